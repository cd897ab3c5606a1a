use zdm_runtime::zero_downtime;

// A set of rows is no column type.
#[zero_downtime(id = "m1", change_type(table = "orders", column = "amount", to = "setof int"))]
pub struct M;

fn main() {}
