use zdm_runtime::zero_downtime;

// Beside other operations, raw SQL must say which lock it takes, so the plan can say it.
#[zero_downtime(
    id = "m1",
    add_column(table = "orders", column = "note", ty = "text"),
    sql(up = "COMMENT ON TABLE orders IS 'notes'", down = "COMMENT ON TABLE orders IS NULL")
)]
pub struct CommentedNotes;

fn main() {}
