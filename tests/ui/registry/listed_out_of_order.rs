use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "email_lower", ty = "text", backfill = "lower(email)"))]
pub struct AddEmailLower;

#[zero_downtime(id = "m2", after(AddEmailLower), add_index(table = "users", columns = "email_lower"))]
pub struct IndexEmailLower;

zdm_runtime::migrations!(pub static MIGRATIONS = [IndexEmailLower, AddEmailLower]);

fn main() {}
