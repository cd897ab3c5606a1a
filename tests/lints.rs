//! Generated code is lint-clean: this crate expands a declaration of every operation (some
//! in more than one form, public and private) under strict lints, so a warning in what the
//! attribute emits fails the build (and clippy in CI).
#![deny(
    warnings,
    clippy::all,
    missing_docs,
    unsafe_code,
    unreachable_pub,
    missing_debug_implementations
)]

use zdm_runtime::{zero_downtime, Migration};

/// A column computed from others.
#[zero_downtime(
    id = "lint_1",
    add_column(
        table = "t",
        column = "c",
        ty = "text",
        backfill = "lower(b)",
        not_null,
        index
    )
)]
#[derive(Debug)]
pub struct Expression;

/// A constant default.
#[zero_downtime(
    id = "lint_2",
    add_column(table = "t", column = "d", ty = "int", default = "0", not_null)
)]
#[derive(Debug)]
pub struct Constant;

/// A private declaration.
#[zero_downtime(
    id = "lint_3",
    add_column(table = "t", column = "e", ty = "uuid", default = "gen_random_uuid()")
)]
#[derive(Debug)]
struct Private;

/// An index on the column `Expression` adds.
#[zero_downtime(id = "lint_4", after(Expression), add_index(table = "t", columns = ["c", "d"], unique, where = "d > 0"))]
#[derive(Debug)]
pub struct Index;

/// A foreign key.
#[zero_downtime(
    id = "lint_5",
    add_foreign_key(
        table = "t",
        column = "p",
        ty = "bigint",
        references = "parents",
        backfill = "b::bigint",
        not_null
    )
)]
#[derive(Debug)]
pub struct ForeignKey;

/// NOT NULL on an existing column.
#[zero_downtime(id = "lint_6", add_not_null(table = "t", column = "b", backfill = "''"))]
#[derive(Debug)]
pub struct NotNull;

/// A table renamed.
#[zero_downtime(id = "lint_7", rename_table(from = "t", to = "u"))]
#[derive(Debug)]
pub struct Rename;

/// A table split in two.
#[zero_downtime(
    id = "lint_8",
    after(Rename),
    split_table(table = "u", into(table = "v", columns = ["b", "c"]), into(table = "w", columns = ["d", "e", "p"]))
)]
#[derive(Debug)]
pub struct Split;

/// A column renamed.
#[zero_downtime(id = "lint_9", rename_column(table = "r", from = "a", to = "b"))]
#[derive(Debug)]
pub struct RenameColumn;

/// A column's type changed with declared conversions.
#[zero_downtime(
    id = "lint_10",
    change_type(
        table = "r",
        column = "n",
        to = "bigint",
        up = "n * 100",
        down = "n / 100",
        default = "0"
    )
)]
#[derive(Debug)]
pub struct ChangeType;

/// A GIN index.
#[zero_downtime(id = "lint_11", add_index(table = "r", columns = "tags", method = "gin"))]
#[derive(Debug)]
pub struct Gin;

/// A CHECK with a fix for the rows that break it.
#[zero_downtime(
    id = "lint_12",
    add_check(
        table = "r",
        name = "r_n_positive",
        check = "n > 0",
        fix_column = "n",
        fix = "abs(n) + 1"
    )
)]
#[derive(Debug)]
pub struct Check;

/// A UNIQUE constraint.
#[zero_downtime(id = "lint_13", add_unique(table = "r", columns = ["a", "n"]))]
#[derive(Debug)]
pub struct Unique;

/// A primary key.
#[zero_downtime(id = "lint_14", add_primary_key(table = "s", columns = "id"))]
#[derive(Debug)]
pub struct PrimaryKey;

/// An enum type.
#[zero_downtime(id = "lint_15", create_enum(name = "mood", values = ["sad", "ok"]))]
#[derive(Debug)]
pub struct Enum;

/// A value added to it.
#[zero_downtime(id = "lint_16", add_enum_value(name = "mood", value = "happy", after = "sad"))]
#[derive(Debug)]
pub struct EnumValue;

/// Several operations in one declaration.
#[zero_downtime(
    id = "lint_17",
    add_column(table = "s", column = "c", ty = "text"),
    add_index(table = "s", columns = "c"),
    add_not_null(table = "s", column = "c", backfill = "''")
)]
#[derive(Debug)]
pub struct Several;

/// Raw SQL with its reversal.
#[zero_downtime(
    id = "lint_18",
    sql(
        up = "ALTER TABLE r ADD COLUMN n text",
        down = "ALTER TABLE r DROP COLUMN n",
        lock = "ACCESS EXCLUSIVE"
    )
)]
#[derive(Debug)]
pub struct RawSql;

/// A table set aside, and purged on request.
#[zero_downtime(id = "lint_19", drop_table(table = "old"))]
#[derive(Debug)]
pub struct DropTable;

/// A column hidden, filled for rows written without it.
#[zero_downtime(id = "lint_20", drop_column(table = "r", column = "c", down = "'x'"))]
#[derive(Debug)]
pub struct DropColumn;

/// A new table.
#[zero_downtime(
    id = "lint_21",
    create_table(
        table = "n",
        column(name = "id", ty = "bigint"),
        column(name = "r_id", ty = "bigint", references = "r"),
        primary_key = "id"
    )
)]
#[derive(Debug)]
pub struct CreateTable;

zdm_runtime::migrations!(static MIGRATIONS = [
    Expression, Constant, Private, Index, ForeignKey, NotNull, Rename, Split, RenameColumn, ChangeType, Gin,
    Check, Unique, PrimaryKey, Enum, EnumValue, Several,
    RawSql,
    DropTable, DropColumn, CreateTable
]);

#[test]
fn lint_clean_declarations_expand() {
    assert_eq!(
        MIGRATIONS
            .iter()
            .map(|migration| migration.id())
            .collect::<Vec<_>>(),
        [
            "lint_1", "lint_2", "lint_3", "lint_4", "lint_5", "lint_6", "lint_7", "lint_8", "lint_9",
            "lint_10", "lint_11", "lint_12", "lint_13", "lint_14", "lint_15", "lint_16", "lint_17",
            "lint_18", "lint_19", "lint_20", "lint_21"
        ]
    );
    assert_eq!(Private.plan().operation, "add_column");
    assert_eq!(Several.plan().operation, "add_column + add_index + add_not_null");
}
