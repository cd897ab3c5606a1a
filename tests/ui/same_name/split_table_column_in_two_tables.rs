use zdm_runtime::zero_downtime;

// Each column goes to exactly one new table.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        into(table = "profiles", columns = ["bio", "email"]),
        into(table = "logins", columns = ["email", "password_hash"]),
    )
)]
pub struct SplitUsers;

fn main() {}
