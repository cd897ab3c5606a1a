//! Every valid form of `create_table` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "one_column", create_table(table = "notes", column(name = "body", ty = "text")))]
pub struct OneColumn;

#[zero_downtime(
    id = "every_key",
    create_table(
        schema = "App",
        table = "Item Events",
        column(name = "ID", ty = "bigint"),
        column(name = "at", ty = "timestamptz", default = "now()", not_null),
        column(name = "item_id", ty = "bigint", references = "items", references_column = "id"),
        column(name = "code", ty = "varchar(20)[]", unique, check = "cardinality(code) < 5"),
        primary_key = ["ID", "at"],
        check = "\"ID\" > 0"
    )
)]
pub struct EveryKey;

zdm_runtime::migrations!(pub static MIGRATIONS = [OneColumn, EveryKey]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
