use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    change_type(table = "orders", column = "", to = "strin", down = "amount::integer; DROP TABLE orders")
)]
pub struct WidenAmount;

fn main() {}
