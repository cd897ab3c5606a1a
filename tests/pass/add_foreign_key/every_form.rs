//! Every valid form of `add_foreign_key` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "new_column", add_foreign_key(table = "orders", column = "customer_id", ty = "bigint", references = "customers"))]
pub struct NewColumn;

#[zero_downtime(
    id = "backfilled_not_null",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        references = "customers",
        referenced_column = "id",
        backfill = "(SELECT c.id FROM customers c WHERE c.email = customer_email)",
        on_delete = "cascade",
        on_update = "no action",
        not_null
    )
)]
pub struct BackfilledNotNull;

#[zero_downtime(
    id = "existing",
    add_foreign_key(table = "orders", column = "customer_id", references = "customers", existing_column, on_delete = "set null")
)]
pub struct Existing;

#[zero_downtime(
    id = "existing_typed",
    add_foreign_key(table = "orders", column = "region_code", ty = "text", references = "regions", referenced_column = "code", existing_column, on_delete = "restrict")
)]
pub struct ExistingTyped;

zdm_runtime::migrations!(pub static MIGRATIONS = [NewColumn, BackfilledNotNull, Existing, ExistingTyped]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
}
