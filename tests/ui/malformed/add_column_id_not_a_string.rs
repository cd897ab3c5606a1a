use zdm_runtime::zero_downtime;

// The id is a string.
#[zero_downtime(id = 20260101, add_column(table = "users", column = "c", ty = "text"))]
pub struct M;

fn main() {}
