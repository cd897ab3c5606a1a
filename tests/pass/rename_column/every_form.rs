//! Every valid form of `rename_column` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", rename_column(table = "users", from = "name", to = "full_name"))]
pub struct Plain;

#[zero_downtime(id = "odd_names", rename_column(table = "Order Items", from = "Qty", to = "quantity \"n\""))]
pub struct OddNames;

#[zero_downtime(
    id = "triggers_checked",
    rename_column(table = "users", from = "email", to = "email_addr", triggers_checked)
)]
pub struct TriggersChecked;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, OddNames, TriggersChecked]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 3);
}
