use zdm_runtime::zero_downtime;

// A split needs two new tables at least; one would be a rename.
#[zero_downtime(
    id = "m1",
    split_table(table = "users", into(table = "profiles", columns = ["bio", "avatar_url"]))
)]
pub struct SplitUsers;

fn main() {}
