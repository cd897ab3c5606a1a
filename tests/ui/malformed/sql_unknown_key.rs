use zdm_runtime::zero_downtime;

// A misspelt key is named with the keys sql takes.
#[zero_downtime(id = "m1", sql(up = "SELECT 1", dwon = "SELECT 1"))]
pub struct M;

fn main() {}
