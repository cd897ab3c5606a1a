use zdm_runtime::zero_downtime;

// The key check and the kinds of the values report together (fragments are checked once the
// keys are right).
#[zero_downtime(id = "m1", add_column(tabel = "users", column = 5, ty = "text", not_null = "yes"))]
pub struct M;

fn main() {}
