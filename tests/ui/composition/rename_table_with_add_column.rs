use zdm_runtime::zero_downtime;

// A renamed table becomes a view under its old name.
#[zero_downtime(
    id = "m1",
    add_column(table = "users", column = "nickname", ty = "text"),
    rename_table(from = "users", to = "accounts")
)]
pub struct RenameUsers;

fn main() {}
