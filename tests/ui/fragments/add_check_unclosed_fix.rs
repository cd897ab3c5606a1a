use zdm_runtime::zero_downtime;

// The fix is one expression.
#[zero_downtime(id = "m1", add_check(table = "items", name = "label_short", check = "length(label) < 8", fix_column = "label", fix = "left(label, 7"))]
pub struct Migration;

fn main() {}
