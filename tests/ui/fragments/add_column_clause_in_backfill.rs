use zdm_runtime::zero_downtime;

// A clause after the expression turns it into a query.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", backfill = "email FROM users"))]
pub struct M;

fn main() {}
