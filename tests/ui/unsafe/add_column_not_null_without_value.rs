use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "verified", ty = "boolean", not_null))]
pub struct AddVerified;

fn main() {}
