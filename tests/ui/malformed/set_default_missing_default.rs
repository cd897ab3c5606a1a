use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", set_default(table = "users", column = "score"))]
pub struct Migration;

fn main() {}
