use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    rename_table(from = "customers", to = "customers_of_the_northern_region_who_signed_up_before_the_merger")
)]
pub struct Migration;

fn main() {}
