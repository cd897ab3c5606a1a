use zdm_runtime::zero_downtime;

// Contract drops the old name, and an index on it would go with it.
#[zero_downtime(
    id = "m1",
    rename_column(table = "users", from = "name", to = "full_name"),
    add_index(table = "users", columns = "name")
)]
pub struct RenameAndIndex;

fn main() {}
