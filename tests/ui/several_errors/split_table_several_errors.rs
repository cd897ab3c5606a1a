use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    split_table(
        table = "users",
        key = ["org_id", "id", "org_id"],
        into(table = "", columns = []),
        into(table = "logins", columns = ["email", "email", "id"]),
        into(table = "this_name_is_much_longer_than_the_sixty_three_bytes_postgres_keeps", columns = ["bio"]),
    )
)]
pub struct SplitUsers;

fn main() {}
