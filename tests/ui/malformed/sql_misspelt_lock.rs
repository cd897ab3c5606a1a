use zdm_runtime::zero_downtime;

// The lock is named as PostgreSQL's manual spells it.
#[zero_downtime(id = "m1", sql(up = "CREATE INDEX items_note ON items (note)", down = "DROP INDEX items_note", lock = "SHARE UPDATE EXLUSIVE"))]
pub struct M;

fn main() {}
