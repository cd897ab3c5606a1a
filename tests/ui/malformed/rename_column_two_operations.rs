use zdm_runtime::zero_downtime;

// A rename and a type change are two schema changes, each with its own phases.
#[zero_downtime(
    id = "m1",
    rename_column(table = "users", from = "name", to = "full_name"),
    change_type(table = "users", column = "age", to = "bigint")
)]
pub struct RenameAndRetype;

fn main() {}
