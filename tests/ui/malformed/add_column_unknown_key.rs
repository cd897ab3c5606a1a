use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(tabel = "users", column = "verified", ty = "boolean"))]
pub struct AddVerified;

fn main() {}
