//! Every operation takes `schema`, and `add_foreign_key` also `references_schema`; the plan
//! then names the table schema-qualified.
use zdm_runtime::{zero_downtime, Migration, Phase};

#[zero_downtime(id = "s_add_column", add_column(schema = "app", table = "users", column = "c", ty = "int"))]
pub struct AddColumn;

#[zero_downtime(
    id = "s_add_foreign_key",
    add_foreign_key(
        schema = "app",
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        references_schema = "Billing",
        references = "customers"
    )
)]
pub struct AddForeignKey;

#[zero_downtime(id = "s_add_index", add_index(schema = "app", table = "users", columns = ["c"]))]
pub struct AddIndex;

#[zero_downtime(id = "s_add_not_null", add_not_null(schema = "app", table = "users", column = "c"))]
pub struct AddNotNull;

#[zero_downtime(id = "s_change_type", change_type(schema = "app", table = "users", column = "c", to = "bigint"))]
pub struct ChangeType;

#[zero_downtime(id = "s_rename_column", rename_column(schema = "app", table = "users", from = "c", to = "d"))]
pub struct RenameColumn;

#[zero_downtime(id = "s_rename_table", rename_table(schema = "app", from = "users", to = "members"))]
pub struct RenameTable;

#[zero_downtime(
    id = "s_split_table",
    split_table(
        schema = "app",
        table = "users",
        into(table = "a", columns = ["c"]),
        into(table = "b", columns = ["d"])
    )
)]
pub struct SplitTable;

zdm_runtime::migrations!(pub static MIGRATIONS = [
    AddColumn, AddForeignKey, AddIndex, AddNotNull, ChangeType, RenameColumn, RenameTable, SplitTable,
]);

fn main() {
    for migration in MIGRATIONS.iter() {
        let plan = migration.plan();
        let statements: Vec<&str> = Phase::ALL
            .iter()
            .flat_map(|phase| plan.phase(*phase).forward.iter())
            .flat_map(|step| step.statements())
            .collect();
        assert!(
            statements.iter().any(|statement| statement.contains("\"app\".")),
            "{}: {statements:?}",
            plan.id
        );
    }
    let fk = AddForeignKey.plan().to_string();
    assert!(fk.contains("REFERENCES \"Billing\".\"customers\""), "{fk}");
}
