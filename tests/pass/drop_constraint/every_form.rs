//! Every valid form of `drop_constraint` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_constraint(table = "users", constraint = "users_age_check"))]
pub struct Plain;

#[zero_downtime(id = "in_schema", drop_constraint(schema = "app", table = "users", constraint = "users_pkey"))]
pub struct InSchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InSchema]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
