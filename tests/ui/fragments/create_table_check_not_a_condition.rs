use zdm_runtime::zero_downtime;

// A CHECK takes a condition.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "bigint", check = "id + 1")))]
pub struct M;

fn main() {}
