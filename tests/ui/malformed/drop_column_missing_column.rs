use zdm_runtime::zero_downtime;

// drop_column needs the column.
#[zero_downtime(id = "m1", drop_column(table = "items"))]
pub struct M;

fn main() {}
