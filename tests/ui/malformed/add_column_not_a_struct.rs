use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "verified", ty = "boolean"))]
pub fn add_verified() {}

fn main() {}
