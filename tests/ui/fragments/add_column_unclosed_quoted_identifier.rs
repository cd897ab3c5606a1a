use zdm_runtime::zero_downtime;

// A quoted identifier that never closes.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", backfill = "\"email"))]
pub struct M;

fn main() {}
