//! Every valid form of `drop_default` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_default(table = "users", column = "score"))]
pub struct Plain;

#[zero_downtime(id = "in_schema", drop_default(schema = "app", table = "users", column = "score"))]
pub struct InSchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InSchema]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
