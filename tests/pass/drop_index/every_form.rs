//! Every valid form of `drop_index` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_index(table = "users", index = "users_email_idx"))]
pub struct Plain;

#[zero_downtime(id = "in_schema", drop_index(schema = "app", table = "users", index = "users_email_idx"))]
pub struct InSchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InSchema]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
