use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_index(table = "orders", columns = []))]
pub struct Migration;

fn main() {}
