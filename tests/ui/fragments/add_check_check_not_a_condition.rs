use zdm_runtime::zero_downtime;

// A check is a condition, not a value.
#[zero_downtime(id = "m1", add_check(table = "items", name = "price_positive", check = "42"))]
pub struct Migration;

fn main() {}
