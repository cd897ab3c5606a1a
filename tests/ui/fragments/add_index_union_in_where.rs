use zdm_runtime::zero_downtime;

// A set operation after the condition turns it into a query.
#[zero_downtime(id = "m1", add_index(table = "users", columns = "email", where = "true UNION SELECT false"))]
pub struct M;

fn main() {}
