use zdm_runtime::zero_downtime;

// A column to fix needs the value it takes.
#[zero_downtime(id = "m1", add_check(table = "items", name = "price_positive", check = "price > 0", fix_column = "price"))]
pub struct Migration;

fn main() {}
