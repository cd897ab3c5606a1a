use zdm_runtime::zero_downtime;

// An operator with nothing after it.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", default = "1 +"))]
pub struct M;

fn main() {}
