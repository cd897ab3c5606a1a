use zdm_runtime::zero_downtime;

// The second occurrence is the mistake.
#[zero_downtime(id = "m1", add_index(table = "orders", columns = ["customer_id", "created_at", "customer_id"]))]
pub struct Migration;

fn main() {}
