use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_not_null(table = "users", colum = "email"))]
pub struct RequireEmail;

fn main() {}
