use zdm_runtime::zero_downtime;

// Column names are strings.
#[zero_downtime(id = "m1", add_primary_key(table = "events", columns = [id]))]
pub struct Migration;

fn main() {}
