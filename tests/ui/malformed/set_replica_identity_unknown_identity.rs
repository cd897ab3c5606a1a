use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", set_replica_identity(table = "users", identity = "index"))]
pub struct Migration;

fn main() {}
