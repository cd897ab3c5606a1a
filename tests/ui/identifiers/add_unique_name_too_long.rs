use zdm_runtime::zero_downtime;

// PostgreSQL would cut the name.
#[zero_downtime(id = "m1", add_unique(table = "users", columns = ["email"], name = "a_unique_constraint_name_that_is_much_longer_than_postgresql_keeps"))]
pub struct Migration;

fn main() {}
