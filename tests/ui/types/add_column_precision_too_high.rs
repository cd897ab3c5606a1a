use zdm_runtime::zero_downtime;

// Fractional seconds go to 6 digits.
#[zero_downtime(id = "m1", add_column(table = "users", column = "seen_at", ty = "timestamp(7) with time zone"))]
pub struct M;

fn main() {}
