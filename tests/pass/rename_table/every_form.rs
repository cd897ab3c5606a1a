//! Every valid form of `rename_table` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", rename_table(from = "customers", to = "clients"))]
pub struct Plain;

#[zero_downtime(id = "odd_names", rename_table(from = "Order Items", to = "order \"lines\""))]
pub struct OddNames;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, OddNames]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
