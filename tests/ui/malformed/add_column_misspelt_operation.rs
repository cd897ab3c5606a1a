use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_colum(table = "users", column = "a", ty = "text"))]
pub struct AddA;

fn main() {}
