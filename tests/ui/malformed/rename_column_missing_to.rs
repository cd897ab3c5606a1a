use zdm_runtime::zero_downtime;

// A rename needs the new name.
#[zero_downtime(id = "m1", rename_column(table = "users", from = "name"))]
pub struct RenameName;

fn main() {}
