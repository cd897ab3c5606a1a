use zdm_runtime::zero_downtime;

// A type change needs the new type.
#[zero_downtime(id = "m1", change_type(table = "orders", column = "amount"))]
pub struct WidenAmount;

fn main() {}
