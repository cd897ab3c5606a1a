use zdm_runtime::zero_downtime;

// `form` for `from`: the typo is named with a suggestion, and the missing key too.
#[zero_downtime(id = "m1", rename_column(table = "users", form = "name", to = "full_name"))]
pub struct RenameName;

fn main() {}
