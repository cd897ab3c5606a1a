use zdm_runtime::zero_downtime;

// One key: columns or one expression, not both.
#[zero_downtime(id = "m1", add_index(table = "users", columns = "email", expression = "lower(email)"))]
pub struct Migration;

fn main() {}
