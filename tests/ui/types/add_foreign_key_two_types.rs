use zdm_runtime::zero_downtime;

// One type, not a list.
#[zero_downtime(id = "m1", add_foreign_key(table = "orders", column = "customer_id", references = "customers", ty = "int, text"))]
pub struct M;

fn main() {}
