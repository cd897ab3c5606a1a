use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(id = "rename user name", rename_column(table = "", from = "name", to = "name"))]
pub struct RenameName;

fn main() {}
