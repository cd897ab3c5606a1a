use zdm_runtime::zero_downtime;

// Names are strings.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        into(table = "profiles", columns = [bio, "avatar_url"]),
        into(table = "logins", columns = ["email"]),
    )
)]
pub struct SplitUsers;

fn main() {}
