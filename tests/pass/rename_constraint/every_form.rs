//! Every valid form of `rename_constraint` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", rename_constraint(table = "users", from = "users_age_check", to = "age_positive"))]
pub struct Plain;

#[zero_downtime(id = "in_schema", rename_constraint(schema = "app", table = "users", from = "users_pkey", to = "users_key"))]
pub struct InSchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InSchema]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
