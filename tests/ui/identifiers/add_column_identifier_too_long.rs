use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_column(
        table = "users",
        column = "a_column_name_that_goes_on_and_on_and_on_well_past_what_postgresql_keeps",
        ty = "boolean"
    )
)]
pub struct AddVerified;

fn main() {}
