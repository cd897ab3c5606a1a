use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    rename_table(from = "", to = "clients_of_the_northern_region_who_signed_up_before_the_big_merger")
)]
pub struct Migration;

fn main() {}
