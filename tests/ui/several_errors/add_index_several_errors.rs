use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    add_index(
        table = "",
        columns = ["a", "a"],
        method = "btre",
        where = "deleted_at IS NULL; DROP TABLE orders"
    )
)]
pub struct Migration;

fn main() {}
