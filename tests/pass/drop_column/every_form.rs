//! Every valid form of `drop_column` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", drop_column(table = "items", column = "note"))]
pub struct Plain;

#[zero_downtime(
    id = "with_down",
    drop_column(schema = "App", table = "Items", column = "Code", down = "upper(label) || '-' || id")
)]
pub struct WithDown;

#[zero_downtime(
    id = "checked",
    drop_column(table = "items", column = "note", triggers_checked)
)]
pub struct TriggersChecked;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, WithDown, TriggersChecked]);

fn main() {
    use zdm_runtime::Migration;
    assert_eq!(MIGRATIONS.len(), 3);
    assert_eq!(WithDown.plan().purge.len(), 1);
}
