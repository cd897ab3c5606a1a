use zdm_runtime::zero_downtime;

// The constraint outlives the change, so it is named.
#[zero_downtime(id = "m1", add_check(table = "items", check = "price > 0"))]
pub struct Migration;

fn main() {}
