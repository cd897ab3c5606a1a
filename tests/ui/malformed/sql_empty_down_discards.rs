use zdm_runtime::zero_downtime;

// An empty description of what reverting throws away says nothing.
#[zero_downtime(id = "m1", sql(up = "SELECT 1", down = "SELECT 1", down_discards = ""))]
pub struct M;

fn main() {}
