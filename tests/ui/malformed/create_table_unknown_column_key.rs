use zdm_runtime::zero_downtime;

// A misspelt key of a column is named with the keys it takes.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "bigint", notnull)))]
pub struct M;

fn main() {}
