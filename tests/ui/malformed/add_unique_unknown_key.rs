use zdm_runtime::zero_downtime;

// add_unique builds a btree index; it takes no method.
#[zero_downtime(id = "m1", add_unique(table = "users", columns = ["email"], method = "hash"))]
pub struct Migration;

fn main() {}
