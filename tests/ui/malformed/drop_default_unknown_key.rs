use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_default(table = "users", column = "score", default = "0"))]
pub struct Migration;

fn main() {}
