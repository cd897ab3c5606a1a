use zdm_runtime::zero_downtime;

// PostgreSQL refuses any modifier on text.
#[zero_downtime(id = "m1", add_column(table = "users", column = "bio", ty = "text(10)"))]
pub struct M;

fn main() {}
