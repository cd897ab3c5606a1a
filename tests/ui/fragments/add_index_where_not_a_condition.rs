use zdm_runtime::zero_downtime;

// `where` takes a condition; a number is a value.
#[zero_downtime(id = "m1", add_index(table = "users", columns = "email", where = "1"))]
pub struct M;

fn main() {}
