use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_not_null(table = "users", column = "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii"))]
pub struct Migration;

fn main() {}
