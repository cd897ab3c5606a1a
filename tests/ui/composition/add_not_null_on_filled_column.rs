use zdm_runtime::zero_downtime;

// Two sync triggers and two backfills on one column would overwrite each other.
#[zero_downtime(
    id = "m1",
    add_column(table = "users", column = "plan", ty = "text", backfill = "'free'"),
    add_not_null(table = "users", column = "plan", backfill = "'basic'")
)]
pub struct PlanRequired;

fn main() {}
