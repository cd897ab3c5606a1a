use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "score", ty = "int", backfill = "0; DELETE FROM users"))]
pub struct AddScore;

fn main() {}
