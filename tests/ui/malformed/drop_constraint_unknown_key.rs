use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_constraint(table = "users", constraint = "users_email_key", cascade))]
pub struct Migration;

fn main() {}
