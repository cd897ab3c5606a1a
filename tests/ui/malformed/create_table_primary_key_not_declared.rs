use zdm_runtime::zero_downtime;

// The primary key names declared columns.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "bigint"), primary_key = ["id", "at"]))]
pub struct M;

fn main() {}
