use zdm_runtime::zero_downtime;

// A key needs a column.
#[zero_downtime(id = "m1", add_primary_key(table = "events", columns = []))]
pub struct Migration;

fn main() {}
