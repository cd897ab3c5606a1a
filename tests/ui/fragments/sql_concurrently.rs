use zdm_runtime::zero_downtime;

// CREATE INDEX CONCURRENTLY cannot run in the step's transaction.
#[zero_downtime(id = "m1", sql(up = "CREATE INDEX CONCURRENTLY items_note ON items (note)", down = "DROP INDEX items_note"))]
pub struct M;

fn main() {}
