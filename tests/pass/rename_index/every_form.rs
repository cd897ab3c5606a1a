//! Every valid form of `rename_index` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", rename_index(table = "users", from = "users_email_idx", to = "users_by_email"))]
pub struct Plain;

// Names differing in case are different names in PostgreSQL.
#[zero_downtime(id = "case", rename_index(schema = "app", table = "users", from = "Idx", to = "idx"))]
pub struct Case;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, Case]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
