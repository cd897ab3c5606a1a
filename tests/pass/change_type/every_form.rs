//! Every valid form of `change_type` compiles: an implicit cast, declared conversions both
//! ways with a default, a binary-coercible widening, and `triggers_checked`.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "implicit", change_type(table = "orders", column = "amount", to = "numeric(12,2)"))]
pub struct Implicit;

#[zero_downtime(
    id = "converted",
    change_type(
        table = "orders",
        column = "amount",
        to = "bigint",
        up = "amount * 100",
        down = "amount / 100",
        default = "0"
    )
)]
pub struct Converted;

#[zero_downtime(id = "wider", change_type(table = "Order Notes", column = "Note", to = "varchar(200)"))]
pub struct Wider;

#[zero_downtime(
    id = "triggers_checked",
    change_type(table = "users", column = "email", to = "varchar(320)", triggers_checked)
)]
pub struct TriggersChecked;

zdm_runtime::migrations!(pub static MIGRATIONS = [Implicit, Converted, Wider, TriggersChecked]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
}
