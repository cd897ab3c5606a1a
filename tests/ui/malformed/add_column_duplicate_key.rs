use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "a", ty = "text", table = "accounts"))]
pub struct AddA;

fn main() {}
