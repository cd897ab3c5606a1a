use zdm_runtime::zero_downtime;

// Index predicates must be immutable.
#[zero_downtime(id = "m1", add_index(table = "orders", columns = "id", where = "random() < 0.1"))]
pub struct Migration;

fn main() {}
