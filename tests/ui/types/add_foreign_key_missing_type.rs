use zdm_runtime::zero_downtime;

// A new column needs its type.
#[zero_downtime(id = "m1", add_foreign_key(table = "orders", column = "customer_id", references = "customers"))]
pub struct AddCustomerFk;

fn main() {}
