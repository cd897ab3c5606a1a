use zdm_runtime::zero_downtime;

// `expression` is add_index's key; add_check takes `check`.
#[zero_downtime(id = "m1", add_check(table = "items", name = "price_positive", expression = "price > 0"))]
pub struct Migration;

fn main() {}
