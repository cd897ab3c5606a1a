use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "age", ty = "integr"))]
pub struct AddAge;

fn main() {}
