use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    add_column(table = "", column = "score", ty = "integr", backfill = "id * 10; DROP TABLE users")
)]
pub struct AddScore;

fn main() {}
