use zdm_runtime::zero_downtime;

// An enum has values.
#[zero_downtime(id = "m1", create_enum(name = "mood"))]
pub struct Migration;

fn main() {}
