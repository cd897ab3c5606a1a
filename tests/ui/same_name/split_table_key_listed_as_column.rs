use zdm_runtime::zero_downtime;

// Every new table gets the key; it is not a column to hand out.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        key = "user_id",
        into(table = "profiles", columns = ["user_id", "bio"]),
        into(table = "logins", columns = ["email"]),
    )
)]
pub struct SplitUsers;

fn main() {}
