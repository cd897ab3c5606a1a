use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "tier", ty = "text", default = "'free', DROP COLUMN email"))]
pub struct AddTier;

fn main() {}
