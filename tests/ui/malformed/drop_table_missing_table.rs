use zdm_runtime::zero_downtime;

// drop_table needs the table.
#[zero_downtime(id = "m1", drop_table(schema = "app"))]
pub struct M;

fn main() {}
