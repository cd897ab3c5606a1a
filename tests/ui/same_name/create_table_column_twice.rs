use zdm_runtime::zero_downtime;

// A column declared twice.
#[zero_downtime(id = "m1", create_table(table = "events", column(name = "id", ty = "bigint"), column(name = "id", ty = "text")))]
pub struct M;

fn main() {}
