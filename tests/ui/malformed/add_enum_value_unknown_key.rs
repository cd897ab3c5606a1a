use zdm_runtime::zero_downtime;

// The value is `value`, one of them.
#[zero_downtime(id = "m1", add_enum_value(name = "mood", values = ["happy"]))]
pub struct Migration;

fn main() {}
