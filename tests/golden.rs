//! Golden plans: the full text and checksum of every plan the expansion snapshots and the
//! examples declare, compared byte for byte with `tests/golden/plans.txt`.
//!
//! A running migration is refused as "changed" when its plan's checksum moves, so a change
//! that alters this file breaks users' migrations in flight. Rewrite it only on purpose:
//! `ZDM_BLESS=1 cargo test --test golden`, and say why in the commit.

#![allow(clippy::duplicate_mod)] // each example brings its own copy of `examples/support`

use std::fmt::Write as _;

use zdm_runtime::Migration;

#[allow(dead_code, unused_imports)]
#[path = "../examples/add_column.rs"]
mod add_column;
#[allow(dead_code, unused_imports)]
#[path = "../examples/add_foreign_key.rs"]
mod add_foreign_key;
#[allow(dead_code, unused_imports)]
#[path = "../examples/add_index.rs"]
mod add_index;
#[allow(dead_code, unused_imports)]
#[path = "../examples/add_not_null.rs"]
mod add_not_null;
#[allow(dead_code, unused_imports)]
#[path = "../examples/bench/main.rs"]
mod bench;
#[allow(dead_code, unused_imports)]
#[path = "../examples/change_column_type.rs"]
mod change_column_type;
#[allow(dead_code, unused_imports)]
#[path = "../examples/quickstart.rs"]
mod quickstart;
#[allow(dead_code, unused_imports)]
#[path = "../examples/rename_column.rs"]
mod rename_column;
#[allow(dead_code, unused_imports)]
#[path = "../examples/rename_table.rs"]
mod rename_table;
#[allow(dead_code, unused_imports)]
#[path = "../examples/split_table.rs"]
mod split_table;

/// The declarations of `zdm-macros/src/snapshots.rs`, as users write them.
mod snapshot_declarations {
    use zdm_runtime::zero_downtime;

    #[zero_downtime(
        id = "m1",
        add_column(
            table = "users",
            column = "email_lower",
            ty = "text",
            backfill = "lower(email)",
            not_null,
            index
        )
    )]
    pub struct AddEmailLower;

    #[zero_downtime(
        id = "m2",
        add_column(
            table = "users",
            column = "verified",
            ty = "boolean",
            default = "false",
            not_null
        )
    )]
    pub struct M2;

    #[zero_downtime(
        id = "m3",
        add_column(table = "users", column = "token", ty = "uuid", default = "gen_random_uuid()")
    )]
    pub struct M3;

    #[zero_downtime(
        id = "m4",
        add_column(table = "users", column = "nickname", ty = "varchar(40)")
    )]
    pub struct M4;

    #[zero_downtime(
        id = "i1",
        add_index(table = "orders", columns = ["customer_id", "created_at"], unique, where = "deleted_at IS NULL")
    )]
    pub struct I1;

    #[zero_downtime(
        id = "i2",
        add_index(table = "docs", expression = "to_tsvector('english', body)", method = "gin")
    )]
    pub struct I2;

    #[zero_downtime(
        id = "f1",
        add_foreign_key(
            table = "orders",
            column = "customer_id",
            ty = "bigint",
            references = "customers",
            backfill = "(SELECT c.id FROM customers c WHERE c.email = customer_email)",
            on_delete = "set null"
        )
    )]
    pub struct F1;

    #[zero_downtime(
        id = "f2",
        add_foreign_key(
            table = "orders",
            column = "customer_id",
            references = "customers",
            existing_column,
            not_null
        )
    )]
    pub struct F2;

    #[zero_downtime(id = "n1", add_not_null(table = "users", column = "email"))]
    pub struct N1;

    #[zero_downtime(
        id = "n2",
        add_not_null(table = "users", column = "country", backfill = "'unknown'")
    )]
    pub struct N2;

    #[zero_downtime(id = "r1", rename_table(from = "customers", to = "clients"))]
    pub struct R1;

    #[zero_downtime(
        id = "s1",
        split_table(
            table = "users",
            into(table = "user_profiles", columns = ["bio", "avatar_url"]),
            into(table = "user_logins", columns = ["email", "password_hash"])
        )
    )]
    pub struct S1;

    #[zero_downtime(
        id = "a1",
        after(AddEmailLower),
        add_index(table = "users", columns = "email_lower")
    )]
    pub struct A1;

    pub static ALL: &[&dyn zdm_runtime::Migration] = &[
        &AddEmailLower,
        &M2,
        &M3,
        &M4,
        &I1,
        &I2,
        &F1,
        &F2,
        &N1,
        &N2,
        &R1,
        &S1,
        &A1,
    ];
}

fn every_declaration() -> Vec<&'static dyn Migration> {
    let mut all: Vec<&'static dyn Migration> = snapshot_declarations::ALL.to_vec();
    for migrations in [
        add_column::MIGRATIONS,
        add_foreign_key::MIGRATIONS,
        add_index::MIGRATIONS,
        add_not_null::MIGRATIONS,
        change_column_type::MIGRATIONS,
        rename_column::MIGRATIONS,
        rename_table::MIGRATIONS,
        split_table::MIGRATIONS,
    ] {
        all.extend_from_slice(migrations);
    }
    all.extend([
        &quickstart::AddEmailLower as &dyn Migration,
        &bench::BenchEmailLower,
        &bench::BenchRename,
        &bench::BenchChangeType,
        &bench::BenchNotNull,
        &bench::BenchConstant,
        &bench::BenchAvailable,
        &bench::BenchTrigger,
    ]);
    all
}

fn render() -> String {
    let mut out = String::new();
    for migration in every_declaration() {
        let plan = migration.plan();
        writeln!(out, "==== {} checksum {}", plan.id, plan.checksum()).unwrap();
        write!(out, "{plan}").unwrap();
    }
    out
}

#[test]
fn every_plan_keeps_its_sql_and_checksum() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/plans.txt");
    let actual = render();
    if std::env::var_os("ZDM_BLESS").is_some() {
        std::fs::write(path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).expect("tests/golden/plans.txt is committed");
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "plans differ from tests/golden/plans.txt from line {}:\n  now:    {:?}\n  golden: {:?}",
            line + 1,
            actual.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}
