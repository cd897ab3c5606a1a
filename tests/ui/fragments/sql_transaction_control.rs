use zdm_runtime::zero_downtime;

// zdm runs the raw SQL in a transaction of its own, with the state row's update.
#[zero_downtime(id = "m1", sql(up = "ALTER TABLE items ADD COLUMN note text; COMMIT", down = "ALTER TABLE items DROP COLUMN note"))]
pub struct M;

fn main() {}
