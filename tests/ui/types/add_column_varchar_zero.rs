use zdm_runtime::zero_downtime;

// A varchar holds at least one character.
#[zero_downtime(id = "m1", add_column(table = "users", column = "bio", ty = "varchar(0)"))]
pub struct M;

fn main() {}
