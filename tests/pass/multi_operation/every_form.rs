//! Several operations in one declaration compile, each building on the ones before it, and
//! the plan names them in written order.
use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "column_index_reference",
    add_column(table = "orders", column = "customer_id", ty = "bigint"),
    add_index(table = "orders", columns = ["customer_id", "created_at"]),
    add_foreign_key(table = "orders", column = "customer_id", references = "customers", existing_column)
)]
pub struct ColumnIndexReference;

#[zero_downtime(
    id = "column_then_not_null",
    add_column(table = "users", column = "country", ty = "text"),
    add_not_null(table = "users", column = "country", backfill = "'unknown'")
)]
pub struct ColumnThenNotNull;

#[zero_downtime(
    id = "rename_then_index",
    rename_column(table = "users", from = "name", to = "full_name"),
    add_index(table = "users", columns = "full_name")
)]
pub struct RenameThenIndex;

#[zero_downtime(
    id = "two_columns",
    add_column(table = "users", column = "nickname", ty = "text"),
    add_column(table = "users", column = "email_lower", ty = "text", backfill = "lower(email)")
)]
pub struct TwoColumns;

/// `after(...)` sees every column a multi-operation declaration creates.
#[zero_downtime(id = "country_index", after(ColumnThenNotNull), add_index(table = "users", columns = "country"))]
pub struct CountryIndex;

zdm_runtime::migrations!(pub static MIGRATIONS = [ColumnIndexReference, ColumnThenNotNull, RenameThenIndex, TwoColumns, CountryIndex]);

fn main() {
    use zdm_runtime::Migration;
    assert_eq!(
        ColumnIndexReference.plan().operation,
        "add_column + add_index + add_foreign_key"
    );
    assert_eq!(TwoColumns.plan().operation, "add_column + add_column");
    assert_eq!(MIGRATIONS.len(), 5);
}
