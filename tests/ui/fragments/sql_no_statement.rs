use zdm_runtime::zero_downtime;

// A comment alone is no statement.
#[zero_downtime(id = "m1", sql(up = "ALTER TABLE items ADD COLUMN note text", down = "-- nothing to undo"))]
pub struct M;

fn main() {}
