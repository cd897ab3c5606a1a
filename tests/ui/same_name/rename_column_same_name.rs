use zdm_runtime::zero_downtime;

// Renaming a column to the name it has is a mistake, not a no-op.
#[zero_downtime(id = "m1", rename_column(table = "users", from = "name", to = "name"))]
pub struct RenameName;

fn main() {}
