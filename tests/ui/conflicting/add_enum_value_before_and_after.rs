use zdm_runtime::zero_downtime;

// PostgreSQL places a new value by one neighbour.
#[zero_downtime(id = "m1", add_enum_value(name = "mood", value = "happy", before = "ok", after = "sad"))]
pub struct Migration;

fn main() {}
