use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "number", ty = "bigserial"))]
pub struct AddNumber;

fn main() {}
