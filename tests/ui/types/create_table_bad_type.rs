use zdm_runtime::zero_downtime;

// A column type PostgreSQL's grammar does not accept.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "big int")))]
pub struct M;

fn main() {}
