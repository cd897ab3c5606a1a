use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m2", after(IndexEmailLower), add_index(table = "users", columns = "email_lower"))]
pub struct IndexEmailLower;

fn main() {}
