use zdm_runtime::zero_downtime;

// A table needs columns.
#[zero_downtime(id = "m1", create_table(table = "events"))]
pub struct M;

fn main() {}
