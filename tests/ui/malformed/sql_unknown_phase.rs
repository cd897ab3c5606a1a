use zdm_runtime::zero_downtime;

// The phase must be one of the four.
#[zero_downtime(id = "m1", sql(up = "SELECT 1", down = "SELECT 1", phase = "migrate"))]
pub struct M;

fn main() {}
