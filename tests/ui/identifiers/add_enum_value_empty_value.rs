use zdm_runtime::zero_downtime;

// PostgreSQL refuses an empty value.
#[zero_downtime(id = "m1", add_enum_value(name = "mood", value = ""))]
pub struct Migration;

fn main() {}
