use zdm_runtime::zero_downtime;

// PostgreSQL would silently cut a 64-byte name to 63 bytes.
#[zero_downtime(
    id = "m1",
    rename_column(
        table = "users",
        from = "name",
        to = "the_full_name_of_the_user_as_they_would_like_to_be_addressed_xyz"
    )
)]
pub struct RenameName;

fn main() {}
