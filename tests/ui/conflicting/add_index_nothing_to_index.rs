use zdm_runtime::zero_downtime;

// Without columns or an expression there is nothing to index.
#[zero_downtime(id = "m1", add_index(table = "users", unique))]
pub struct Migration;

fn main() {}
