use zdm_runtime::zero_downtime;

// Column names are strings, as everywhere else in the declaration.
#[zero_downtime(id = "m1", add_index(table = "orders", columns = [customer_id, "created_at"]))]
pub struct Migration;

fn main() {}
