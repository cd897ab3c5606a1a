use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_index(table = "users", name = "users_email_idx"))]
pub struct Migration;

fn main() {}
