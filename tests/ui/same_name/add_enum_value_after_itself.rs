use zdm_runtime::zero_downtime;

// The neighbour must be an existing value, not the new one.
#[zero_downtime(id = "m1", add_enum_value(name = "mood", value = "happy", after = "happy"))]
pub struct Migration;

fn main() {}
