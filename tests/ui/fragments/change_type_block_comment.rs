use zdm_runtime::zero_downtime;

// Comments are refused, nested or not: they could hide what follows.
#[zero_downtime(id = "m1", change_type(table = "orders", column = "amount", to = "bigint", up = "amount /* cents */ * 100", down = "amount / 100"))]
pub struct M;

fn main() {}
