use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_not_null(table = "users", backfill = "'unknown@example.com'"))]
pub struct RequireEmail;

fn main() {}
