use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_not_null(table = "users", column = "email", backfill = "NULL"))]
pub struct RequireEmail;

fn main() {}
