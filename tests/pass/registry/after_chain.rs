//! Declarations that build on each other, checked by the compiler.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", rename_table(from = "customers", to = "clients"))]
pub struct RenameCustomers;

#[zero_downtime(id = "m2", add_column(table = "orders", column = "email", ty = "text"))]
pub struct AddOrderEmail;

// The foreign key points at the table m1 renamed; the index is on the column m2 added.
#[zero_downtime(
    id = "m3",
    after(RenameCustomers),
    add_foreign_key(table = "orders", column = "client_id", ty = "bigint", references = "clients")
)]
pub struct OrdersToClients;

#[zero_downtime(id = "m4", after(AddOrderEmail, OrdersToClients), add_index(table = "orders", columns = ["email", "client_id"]))]
pub struct IndexOrders;

zdm_runtime::migrations!(pub static MIGRATIONS = [RenameCustomers, AddOrderEmail, OrdersToClients, IndexOrders]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
}
