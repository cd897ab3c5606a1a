use zdm_runtime::zero_downtime;

#[zero_downtime(id = "add verified!", add_column(table = "users", column = "verified", ty = "boolean"))]
pub struct AddVerified;

fn main() {}
