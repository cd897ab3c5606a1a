use zdm_runtime::zero_downtime;

// Flags take no value.
#[zero_downtime(id = "m1", add_column(table = "users", column = "c", ty = "text", default = "1", not_null = "yes"))]
pub struct M;

fn main() {}
