use zdm_runtime::zero_downtime;

// The struct names the migration; its plan is generated.
#[zero_downtime(id = "m1", add_column(table = "users", column = "c", ty = "text"))]
pub struct M {
    pub done: bool,
}

fn main() {}
