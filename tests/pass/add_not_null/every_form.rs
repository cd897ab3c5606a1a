//! Every valid form of `add_not_null` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "check_only", add_not_null(table = "users", column = "email"))]
pub struct CheckOnly;

#[zero_downtime(id = "backfilled", add_not_null(table = "users", column = "country", backfill = "'unknown'"))]
pub struct Backfilled;

#[zero_downtime(id = "derived", add_not_null(table = "users", column = "display_name", backfill = "coalesce(nickname, email)"))]
pub struct Derived;

zdm_runtime::migrations!(pub static MIGRATIONS = [CheckOnly, Backfilled, Derived]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 3);
}
