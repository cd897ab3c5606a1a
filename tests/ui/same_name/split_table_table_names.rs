use zdm_runtime::zero_downtime;

// New tables need names of their own: not the source's, not each other's.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        into(table = "users", columns = ["bio"]),
        into(table = "logins", columns = ["email"]),
        into(table = "logins", columns = ["password_hash"]),
    )
)]
pub struct SplitUsers;

fn main() {}
