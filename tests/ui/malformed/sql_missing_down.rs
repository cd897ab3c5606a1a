use zdm_runtime::zero_downtime;

// Raw SQL needs its own reversal.
#[zero_downtime(id = "m1", sql(up = "ALTER TABLE items ADD COLUMN note text"))]
pub struct M;

fn main() {}
