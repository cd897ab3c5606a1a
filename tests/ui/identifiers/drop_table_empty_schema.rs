use zdm_runtime::zero_downtime;

// A declared schema must be a name.
#[zero_downtime(id = "m1", drop_table(schema = "", table = "legacy"))]
pub struct M;

fn main() {}
