//! Generated code is lint-clean: this crate expands declarations of every form under strict
//! lints, so a warning in what the attribute emits fails the build (and clippy in CI).
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

zdm_runtime::migrations!(static MIGRATIONS = [Expression, Constant, Private]);

#[test]
fn lint_clean_declarations_expand() {
    assert_eq!(
        MIGRATIONS
            .iter()
            .map(|migration| migration.id())
            .collect::<Vec<_>>(),
        ["lint_1", "lint_2", "lint_3"]
    );
    assert_eq!(Private.plan().operation, "add_column");
}
