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
#[path = "../examples/add_check.rs"]
mod add_check;
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
#[path = "../examples/add_unique.rs"]
mod add_unique;
#[allow(dead_code, unused_imports)]
#[path = "../examples/bench/main.rs"]
mod bench;
#[allow(dead_code, unused_imports)]
#[path = "../examples/change_column_type.rs"]
mod change_column_type;
#[allow(dead_code, unused_imports)]
#[path = "../examples/create_table.rs"]
mod create_table;
#[allow(dead_code, unused_imports)]
#[path = "../examples/drop_column.rs"]
mod drop_column;
#[allow(dead_code, unused_imports)]
#[path = "../examples/drop_index.rs"]
mod drop_index;
#[allow(dead_code, unused_imports)]
#[path = "../examples/drop_table.rs"]
mod drop_table;
#[allow(dead_code, unused_imports)]
#[path = "../examples/enum_type.rs"]
mod enum_type;
#[allow(dead_code, unused_imports)]
#[path = "../examples/quickstart.rs"]
mod quickstart;
#[allow(dead_code, unused_imports)]
#[path = "../examples/raw_sql.rs"]
mod raw_sql;
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

    #[zero_downtime(
        id = "c1",
        add_check(table = "items", name = "items_price_not_negative", check = "price >= 0")
    )]
    pub struct C1;

    #[zero_downtime(
        id = "c2",
        add_check(
            schema = "shop",
            table = "items",
            name = "items_price_not_negative",
            check = "price >= 0",
            fix_column = "price",
            fix = "abs(price)"
        )
    )]
    pub struct C2;

    #[zero_downtime(id = "u1", add_unique(table = "accounts", columns = ["tenant", "email"]))]
    pub struct U1;

    #[zero_downtime(id = "p1", add_primary_key(schema = "app", table = "events", columns = ["id"]))]
    pub struct P1;

    #[zero_downtime(id = "e1", create_enum(name = "mood", values = ["sad", "ok"]))]
    pub struct E1;

    #[zero_downtime(id = "e2", add_enum_value(name = "mood", value = "happy", before = "ok"))]
    pub struct E2;

    #[zero_downtime(
        id = "raw",
        sql(
            up = "ALTER TABLE items ADD COLUMN note text; COMMENT ON COLUMN items.note IS 'free text'",
            down = "ALTER TABLE items DROP COLUMN note",
            phase = "expand",
            lock = "ACCESS EXCLUSIVE",
            down_discards = "every value of items.note"
        )
    )]
    pub struct Raw;

    #[zero_downtime(id = "drop_legacy", drop_table(schema = "app", table = "legacy"))]
    pub struct DropLegacy;

    #[zero_downtime(
        id = "drop_code",
        drop_column(table = "items", column = "code", down = "upper(label)")
    )]
    pub struct DropCode;

    #[zero_downtime(
        id = "create_events",
        create_table(
            table = "item_events",
            column(name = "id", ty = "bigint"),
            column(name = "item_id", ty = "bigint", not_null, references = "items"),
            column(
                name = "kind",
                ty = "text",
                default = "'note'",
                not_null,
                check = "kind <> ''"
            ),
            column(name = "code", ty = "text", unique),
            primary_key = "id",
            check = "id > 0"
        )
    )]
    pub struct CreateEvents;

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
        &C1,
        &C2,
        &U1,
        &P1,
        &E1,
        &E2,
        &Raw,
        &DropLegacy,
        &DropCode,
        &CreateEvents,
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
        create_table::MIGRATIONS,
        drop_column::MIGRATIONS,
        drop_table::MIGRATIONS,
        raw_sql::MIGRATIONS,
        rename_column::MIGRATIONS,
        rename_table::MIGRATIONS,
        split_table::MIGRATIONS,
        drop_index::MIGRATIONS,
        add_check::MIGRATIONS,
        add_unique::MIGRATIONS,
        enum_type::MIGRATIONS,
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
