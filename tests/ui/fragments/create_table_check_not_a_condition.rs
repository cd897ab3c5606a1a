use zdm_runtime::zero_downtime;

// A CHECK takes a condition, not a constant.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "bigint", check = "42")))]
pub struct M;

fn main() {}
