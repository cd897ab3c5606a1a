use zdm_runtime::zero_downtime;

// The same column added twice.
#[zero_downtime(
    id = "m1",
    add_column(table = "users", column = "nickname", ty = "text"),
    add_column(table = "users", column = "nickname", ty = "varchar(40)")
)]
pub struct NicknameTwice;

fn main() {}
