use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", drop_index(table = "users", index = "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii"))]
pub struct Migration;

fn main() {}
