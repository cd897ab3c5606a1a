use zdm_runtime::zero_downtime;

// `date '\'` is a typed literal whose string ends at the second quote.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", backfill = r"date'\'; DROP TABLE users; --'"))]
pub struct M;

fn main() {}
