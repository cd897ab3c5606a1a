use zdm_runtime::zero_downtime;

// `after` names the declaration structs.
#[zero_downtime(id = "m1", after("AddUsers"), add_column(table = "users", column = "c", ty = "text"))]
pub struct M;

fn main() {}
