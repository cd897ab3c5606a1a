use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_column(table = "app.users", column = "verified", ty = "boolean")
)]
pub struct AddVerified;

#[zero_downtime(id = "m2", rename_table(from = "users", to = "app.members"))]
pub struct RenameUsers;

fn main() {}
