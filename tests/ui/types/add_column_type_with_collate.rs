use zdm_runtime::zero_downtime;

// `ty` is the type alone.
#[zero_downtime(id = "m1", add_column(table = "users", column = "bio", ty = "text COLLATE \"C\""))]
pub struct M;

fn main() {}
