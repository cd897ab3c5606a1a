use zdm_runtime::zero_downtime;

// A misspelt key is named with the keys drop_column takes.
#[zero_downtime(id = "m1", drop_column(table = "items", column = "code", dwon = "1"))]
pub struct M;

fn main() {}
