use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1")]
pub struct Nothing;

fn main() {}
