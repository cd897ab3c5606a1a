use zdm_runtime::zero_downtime;

// `add_column` takes a default; `add_not_null` fills NULLs with `backfill`.
#[zero_downtime(id = "m1", add_not_null(table = "users", column = "email", default = "''"))]
pub struct RequireEmail;

fn main() {}
