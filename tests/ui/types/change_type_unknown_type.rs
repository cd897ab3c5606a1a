use zdm_runtime::zero_downtime;

// A typo in the type is caught at build time, with a suggestion.
#[zero_downtime(id = "m1", change_type(table = "orders", column = "amount", to = "numric(12, 2)"))]
pub struct WidenAmount;

fn main() {}
