use zdm_runtime::zero_downtime;

// Raw SQL is read by PostgreSQL's grammar: a misspelt keyword stops it.
#[zero_downtime(id = "m1", sql(up = "ALTER TABLE items ADD COLUMN note text", down = "ALTER TABEL items DROP COLUMN note"))]
pub struct M;

fn main() {}
