use zdm_runtime::zero_downtime;

// `rename_column` takes no `index`: the indexes of the column are carried by themselves.
#[zero_downtime(id = "m1", rename_column(table = "users", from = "name", to = "full_name", index))]
pub struct RenameName;

fn main() {}
