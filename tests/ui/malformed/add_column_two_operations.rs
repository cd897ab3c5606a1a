use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_column(table = "users", column = "a", ty = "text"),
    add_column(table = "users", column = "b", ty = "text")
)]
pub struct TwoColumns;

fn main() {}
