use zdm_runtime::zero_downtime;

// A conversion one way needs its inverse: writes through the new column and reversals
// go the other way.
#[zero_downtime(
    id = "m1",
    change_type(table = "orders", column = "amount", to = "bigint", up = "amount * 100")
)]
pub struct AmountInCents;

fn main() {}
