use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_index(table = "users", from = "users_email_idx", to = "users_email_idx"))]
pub struct Migration;

fn main() {}
