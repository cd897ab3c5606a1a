use zdm_runtime::zero_downtime;

// `*` is every column, not a value.
#[zero_downtime(id = "m1", add_not_null(table = "users", column = "email", backfill = "*"))]
pub struct M;

fn main() {}
