use zdm_runtime::zero_downtime;

// A dot in the table would be part of one name, not a schema.
#[zero_downtime(id = "m1", drop_table(table = "app.legacy"))]
pub struct M;

fn main() {}
