use zdm_runtime::zero_downtime;

// A referenced column needs the referenced table.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "item_id", ty = "bigint", references_column = "id")))]
pub struct M;

fn main() {}
