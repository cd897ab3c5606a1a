//! Every valid form of `drop_table` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_table(table = "legacy"))]
pub struct Plain;

#[zero_downtime(id = "in_a_schema", drop_table(schema = "App", table = "Old \"notes\""))]
pub struct InASchema;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, InASchema]);

fn main() {
    use zdm_runtime::Migration;
    assert_eq!(MIGRATIONS.len(), 2);
    assert_eq!(InASchema.plan().purge.len(), 1);
}
