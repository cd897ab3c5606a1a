use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_constraint(table = "users", constraint = ""))]
pub struct Migration;

fn main() {}
