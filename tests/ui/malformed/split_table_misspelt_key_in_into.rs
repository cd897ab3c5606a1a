use zdm_runtime::zero_downtime;

// darling's suggestion, in zdm's voice.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        into(table = "profiles", colums = ["bio"]),
        into(table = "logins", columns = ["email"]),
    )
)]
pub struct SplitUsers;

fn main() {}
