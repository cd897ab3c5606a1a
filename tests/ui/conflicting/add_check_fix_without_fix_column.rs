use zdm_runtime::zero_downtime;

// A fix needs the column it is assigned to.
#[zero_downtime(id = "m1", add_check(table = "items", name = "price_positive", check = "price > 0", fix = "abs(price)"))]
pub struct Migration;

fn main() {}
