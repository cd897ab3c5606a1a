//! Every valid form of `drop_not_null` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_not_null(table = "users", column = "email"))]
pub struct Plain;

#[zero_downtime(id = "in_schema", drop_not_null(schema = "app", table = "users", column = "email"))]
pub struct InSchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InSchema]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
