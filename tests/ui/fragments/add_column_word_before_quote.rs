use zdm_runtime::zero_downtime;

// PostgreSQL reads `name'\'` as a typed literal holding a backslash, not an escape string:
// what follows it is live SQL.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", backfill = r"name'\'; DROP TABLE users; --'"))]
pub struct AddLabel;

fn main() {}
