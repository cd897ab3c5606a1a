use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    add_not_null(
        table = "",
        column = "email_address_of_the_user_as_it_was_given_at_sign_up_time_in_the_form",
        backfill = "'x'; DELETE FROM users"
    )
)]
pub struct RequireEmail;

fn main() {}
