//! Every valid form of `rename_column` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", rename_column(table = "users", from = "name", to = "full_name"))]
pub struct Plain;

#[zero_downtime(id = "odd_names", rename_column(table = "Order Items", from = "Qty", to = "quantity \"n\""))]
pub struct OddNames;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, OddNames]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
