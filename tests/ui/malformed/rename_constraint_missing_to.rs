use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_constraint(table = "users", from = "users_age_check"))]
pub struct Migration;

fn main() {}
