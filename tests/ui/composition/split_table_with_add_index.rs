use zdm_runtime::zero_downtime;

// The split replaces the table the index would be built on.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        into(table = "user_names", columns = ["name"]),
        into(table = "user_profiles", columns = ["bio"])
    ),
    add_index(table = "users", columns = "email")
)]
pub struct SplitAndIndex;

fn main() {}
