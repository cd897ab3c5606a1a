use zdm_runtime::zero_downtime;

// A name after the expression is not part of it.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", default = "'x' AS label"))]
pub struct M;

fn main() {}
