use zdm_runtime::zero_downtime;

// The same index (`users_email_idx`) built twice.
#[zero_downtime(
    id = "m1",
    add_column(table = "users", column = "email", ty = "text", index),
    add_index(table = "users", columns = "email")
)]
pub struct IndexEmailTwice;

fn main() {}
