use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_table(from = "customers"))]
pub struct Migration;

fn main() {}
