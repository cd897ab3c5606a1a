use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_table(from = "", to = "clients"))]
pub struct Migration;

fn main() {}
