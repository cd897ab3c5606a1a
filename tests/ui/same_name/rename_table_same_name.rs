use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_table(from = "customers", to = "customers"))]
pub struct Migration;

fn main() {}
