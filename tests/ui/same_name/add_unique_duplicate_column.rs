use zdm_runtime::zero_downtime;

// A key lists each column once.
#[zero_downtime(id = "m1", add_unique(table = "users", columns = ["email", "email"]))]
pub struct Migration;

fn main() {}
