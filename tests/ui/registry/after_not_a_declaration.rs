use zdm_runtime::zero_downtime;

pub struct NotAMigration;

#[zero_downtime(id = "m2", after(NotAMigration), add_index(table = "users", columns = "email_lower"))]
pub struct IndexEmailLower;

fn main() {}
