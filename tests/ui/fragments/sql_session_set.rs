use zdm_runtime::zero_downtime;

// A session-wide SET would outlive the step and change zdm's timeouts.
#[zero_downtime(id = "m1", sql(up = "SET lock_timeout = 0; ALTER TABLE items ADD COLUMN note text", down = "ALTER TABLE items DROP COLUMN note"))]
pub struct M;

fn main() {}
