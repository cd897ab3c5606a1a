use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_default(table = "users", column = ""))]
pub struct Migration;

fn main() {}
