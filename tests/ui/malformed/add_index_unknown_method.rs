use zdm_runtime::zero_downtime;

// A misspelt method is refused with the closest one.
#[zero_downtime(id = "m1", add_index(table = "docs", columns = "tags", method = "gni"))]
pub struct Migration;

fn main() {}
