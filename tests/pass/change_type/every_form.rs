//! Every valid form of `change_type` compiles: an implicit cast, declared conversions both
//! ways with a default, and a binary-coercible widening.
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

zdm_runtime::migrations!(pub static MIGRATIONS = [Implicit, Converted, Wider]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 3);
}
