use zdm_runtime::zero_downtime;

// In a U& string a backslash starts an escape; `\'` is not one.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", default = r"U&'\'; DROP TABLE users; --'"))]
pub struct M;

fn main() {}
