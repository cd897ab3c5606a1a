//! Every valid form of `drop_column` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_column(table = "items", column = "note"))]
pub struct Plain;

#[zero_downtime(
    id = "with_down",
    drop_column(schema = "App", table = "Items", column = "Code", down = "upper(label) || '-' || id")
)]
pub struct WithDown;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, WithDown]);

fn main() {
    use zdm_runtime::Migration;
    assert_eq!(MIGRATIONS.len(), 2);
    assert_eq!(WithDown.plan().purge.len(), 1);
}
