use zdm_runtime::zero_downtime;

// A column name PostgreSQL would truncate.
#[zero_downtime(id = "m1", drop_column(table = "items", column = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"))]
pub struct M;

fn main() {}
