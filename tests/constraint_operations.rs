//! `add_check` end to end against a real PostgreSQL: the catalog after every phase, the
//! refusals before any change, each reversal restoring the table exactly, and old and new
//! versions writing with prepared statements while the phases run; then every operation of
//! this family (with `tests/unique_operations.rs` and `tests/enum_operations.rs`) in a
//! declared schema.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Phase};
use zdm_suite::{
    assert_revert_restores, constraints, run_phases_under_load, scalar, triggers, TestDb, Writer,
};

/// Prices are never negative; rows that are must be fixed by hand first.
#[zero_downtime(
    id = "check_price",
    add_check(table = "items", name = "items_price_not_negative", check = "price >= 0")
)]
struct PriceNotNegative;

/// Prices are never negative; a negative one becomes its absolute value.
#[zero_downtime(
    id = "check_price_fixed",
    add_check(
        table = "items",
        name = "items_price_not_negative",
        check = "price >= 0",
        fix_column = "price",
        fix = "abs(price)"
    )
)]
struct PriceFixed;

/// Doubled prices are never negative: a check on a generated column.
#[zero_downtime(
    id = "check_doubled",
    add_check(table = "items", name = "items_doubled_not_negative", check = "doubled >= 0")
)]
struct DoubledNotNegative;

/// The same check with a fix, whose trigger cannot see the generated column.
#[zero_downtime(
    id = "check_doubled_fixed",
    add_check(
        table = "items",
        name = "items_doubled_not_negative",
        check = "doubled >= 0",
        fix_column = "price",
        fix = "abs(price)"
    )
)]
struct DoubledFixed;

/// Items, every fifth with a negative price when `negative`, every seventh without one.
fn items(db: &TestDb, rows: i64, negative: bool) -> Client {
    let mut client = db.connect();
    let sign = if negative {
        "CASE WHEN g % 5 = 0 THEN -1 ELSE 1 END"
    } else {
        "1"
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, price integer);
             INSERT INTO items SELECT g, 'item ' || g, CASE WHEN g % 7 <> 0 THEN g * {sign} END
                               FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

/// The table's CHECK constraints: name, validated, definition.
fn checks(client: &mut Client) -> Vec<(String, bool, String)> {
    constraints(client, "items")
        .into_iter()
        .filter(|(_, kind, ..)| kind == "c")
        .map(|(name, _, valid, definition)| (name, valid, definition))
        .collect()
}

fn the_check(valid: bool) -> Vec<(String, bool, String)> {
    let definition = if valid {
        "CHECK ((price >= 0))"
    } else {
        "CHECK ((price >= 0)) NOT VALID"
    };
    vec![(
        "items_price_not_negative".to_owned(),
        valid,
        definition.to_owned(),
    )]
}

fn negatives(client: &mut Client) -> i64 {
    scalar(client, "SELECT count(*) FROM items WHERE price < 0")
}

#[test]
fn add_check_without_a_fix_refuses_violating_rows_before_any_change() {
    let db = TestDb::new("add_check_refuses_violations");
    let mut client = items(&db, 30, true);
    let mut runner = db.runner();
    let error = runner.run(&PriceNotNegative, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 6, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "check_price: expand refused before any lock-heavy step: expected no row of \"items\" breaks CHECK \
         (price >= 0), found 6 offending row(s); for example:\n  (5,\"item 5\",-5)\n  (10,\"item 10\",-10)\n  \
         (15,\"item 15\",-15)\n  (20,\"item 20\",-20)\n  (25,\"item 25\",-25)"
    );
    assert!(checks(&mut client).is_empty(), "nothing was changed");
    assert_eq!(runner.state(&PriceNotNegative).unwrap().completed, None);
}

#[test]
fn add_check_without_a_fix_refuses_breaking_writes_from_expand_on() {
    let db = TestDb::new("add_check_full_cycle");
    let mut client = items(&db, 500, false);
    let mut runner = db.runner();
    runner.run(&PriceNotNegative, Phase::Expand).unwrap();
    assert_eq!(checks(&mut client), the_check(false));
    let refused = client
        .execute("INSERT INTO items (id, label, price) VALUES (5000, 'x', -1)", &[])
        .unwrap_err();
    assert_eq!(refused.code(), Some(&SqlState::CHECK_VIOLATION));
    client
        .execute(
            "INSERT INTO items (id, label, price) VALUES (5001, 'null passes', NULL)",
            &[],
        )
        .unwrap();

    runner.run(&PriceNotNegative, Phase::Sync).unwrap();
    runner.run(&PriceNotNegative, Phase::Backfill).unwrap();
    assert_eq!(
        checks(&mut client),
        the_check(false),
        "NOT VALID until the contract"
    );
    runner.run(&PriceNotNegative, Phase::Contract).unwrap();
    assert_eq!(checks(&mut client), the_check(true));
    assert!(triggers(&mut client, "items").is_empty());
}

#[test]
fn add_check_with_a_fix_fixes_old_writes_and_old_rows_then_validates() {
    let db = TestDb::new("add_check_fix_full_cycle");
    let mut client = items(&db, 1_000, true);
    let mut runner = db.runner();
    runner.run(&PriceFixed, Phase::Expand).unwrap();
    assert!(
        checks(&mut client).is_empty(),
        "the old version's writes still work"
    );

    runner.run(&PriceFixed, Phase::Sync).unwrap();
    assert_eq!(
        triggers(&mut client, "items"),
        ["zdm_fix_items_items_price_not_negative"]
    );
    client
        .batch_execute(
            "INSERT INTO items (id, label, price) VALUES (5000, 'old', -7);
             UPDATE items SET price = -3 WHERE id = 1;",
        )
        .unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT sum(price) FROM items WHERE id IN (1, 5000)"),
        10
    );
    assert_eq!(negatives(&mut client), 172);

    let report = runner.run(&PriceFixed, Phase::Backfill).unwrap();
    assert_eq!(report.steps[1].rows, 172, "each breaking row fixed once");
    assert_eq!(negatives(&mut client), 0);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT price::bigint FROM items WHERE id = 10"),
        10
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM zdm.check_price_fixed_fixed"),
        172
    );

    runner.run(&PriceFixed, Phase::Contract).unwrap();
    assert_eq!(checks(&mut client), the_check(true));
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM zdm.check_price_fixed_fixed"),
        172,
        "the record stays, so that the backfill remains revertible"
    );
    assert!(triggers(&mut client, "items").is_empty());
    let refused = client
        .execute("UPDATE items SET price = -1 WHERE id = 2", &[])
        .unwrap_err();
    assert_eq!(refused.code(), Some(&SqlState::CHECK_VIOLATION));
}

#[test]
fn add_check_reverting_the_backfill_gives_the_fixed_rows_their_values_back() {
    let db = TestDb::new("add_check_revert_all");
    let mut client = items(&db, 300, true);
    let before = zdm_suite::contents(&mut client, "items");
    let mut runner = db.runner();
    runner.run_to(&PriceFixed, Phase::Contract).unwrap();
    for phase in Phase::ALL.into_iter().rev() {
        runner.revert(&PriceFixed, phase).unwrap();
    }
    assert_eq!(zdm_suite::contents(&mut client, "items"), before);
    assert_eq!(negatives(&mut client), 52);
    assert!(checks(&mut client).is_empty() && triggers(&mut client, "items").is_empty());
}

#[test]
fn add_check_each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration, negative) in [
            ("refuse", &PriceNotNegative as &dyn Migration, false),
            ("fix", &PriceFixed, true),
        ] {
            let db = TestDb::new(&format!("add_check_revert_{name}_{phase}"));
            items(&db, 600, negative);
            assert_revert_restores(&db, migration, phase, "items");
        }
    }
}

#[test]
fn add_check_old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("add_check_mixed_versions");
    items(&db, 1_000, true);
    // The price each version wrote, by item id.
    let written: Arc<Mutex<BTreeMap<i64, i32>>> = Arc::default();

    // The old version writes negative prices; it is gone once contract starts.
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            let price = -(n as i32) - 1;
            client
                .execute(
                    "INSERT INTO items (id, label, price) VALUES ($1, 'old', $2)",
                    &[&id, &price],
                )
                .unwrap();
            record.lock().unwrap().insert(id, price);
            let changed = (n % 500) * 2 + 2;
            client
                .execute("UPDATE items SET price = $2 WHERE id = $1", &[&changed, &price])
                .unwrap();
            record.lock().unwrap().insert(changed, price);
        },
    );
    // The new version writes prices the check accepts, from the start.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, _, n| {
            let id = 1_000_000 + n;
            let price = n as i32;
            client
                .execute(
                    "INSERT INTO items (id, label, price) VALUES ($1, 'new', $2)",
                    &[&id, &price],
                )
                .unwrap();
            record.lock().unwrap().insert(id, price);
            let changed = (n % 500) * 2 + 1;
            client
                .execute("UPDATE items SET price = $2 WHERE id = $1", &[&changed, &price])
                .unwrap();
            record.lock().unwrap().insert(changed, price);
        },
    );
    run_phases_under_load(&db, &PriceFixed, vec![old_version, new_version]);

    let mut client = db.connect();
    assert_eq!(checks(&mut client), the_check(true));
    assert_eq!(negatives(&mut client), 0);
    let written = written.lock().unwrap();
    assert!(
        written.keys().any(|id| *id >= 1_000_000)
            && written.keys().any(|id| (100_000..1_000_000).contains(id))
    );
    for (id, price) in written.iter() {
        let row: i32 = client
            .query_one("SELECT price FROM items WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        // A negative price the old version wrote reads as its absolute value.
        assert_eq!(row, price.abs(), "item {id}");
    }
}

#[test]
fn add_check_reads_a_generated_column_only_without_a_fix() {
    let db = TestDb::new("add_check_generated_column");
    let mut client = items(&db, 100, false);
    client
        .batch_execute("ALTER TABLE items ADD COLUMN doubled integer GENERATED ALWAYS AS (price * 2) STORED")
        .unwrap();
    let mut runner = db.runner();
    let error = runner.run(&DoubledFixed, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "check_doubled_fixed: refused before any change: `check` reads \"items\".\"doubled\", \
         a generated column: the sync trigger computes `check` for each row written, before PostgreSQL computes \
         that row's generated columns, so it cannot see the row's value of \"doubled\"; write `check` over the \
         columns \"doubled\" is generated from"
    );
    runner.run_to(&DoubledNotNegative, Phase::Contract).unwrap();
    assert_eq!(
        checks(&mut client),
        [(
            "items_doubled_not_negative".to_owned(),
            true,
            "CHECK ((doubled >= 0))".to_owned()
        )]
    );
}

#[test]
fn add_check_fixes_each_row_of_a_partitioned_table_once() {
    let db = TestDb::new("add_check_partitioned");
    let mut client = db.connect();
    // The rows of both partitions share ctids: (0,1) holds id 1 in one and id 1001 in the other.
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, price integer) PARTITION BY RANGE (id);
             CREATE TABLE items_low PARTITION OF items FOR VALUES FROM (1) TO (1001);
             CREATE TABLE items_high PARTITION OF items FOR VALUES FROM (1001) TO (2001);
             INSERT INTO items SELECT g, 'item ' || g, CASE WHEN g > 1000 THEN -g ELSE g END FROM generate_series(1, 2000) g;",
        )
        .unwrap();
    let before = zdm_suite::contents(&mut client, "items");
    let mut runner = db.runner();
    if zdm_suite::server_version_num(&mut client) < 130000 {
        let error = runner.run(&PriceFixed, Phase::Expand).unwrap_err().to_string();
        assert!(
            error.contains("\"items\" can have the BEFORE row trigger of `fix` (PostgreSQL 13 or later for a partitioned table)"),
            "{error}"
        );
        assert!(error.contains("a partitioned table on PostgreSQL 12"), "{error}");
        assert_eq!(
            zdm_suite::contents(&mut client, "items"),
            before,
            "refused before any change"
        );
        return;
    }
    runner.run_to(&PriceFixed, Phase::Backfill).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE price = abs(id)"),
        2000,
        "every row keeps or gets the absolute value of its own price"
    );
    runner.revert(&PriceFixed, Phase::Backfill).unwrap();
    assert_eq!(zdm_suite::contents(&mut client, "items"), before);
}

// ---------------------------------------------------------------------------------------
// In a declared schema, with a table of the same name on the search path

/// The fixed check, in the schema `app`.
#[zero_downtime(
    id = "app_check",
    add_check(
        schema = "app",
        table = "items",
        name = "items_price_not_negative",
        check = "price >= 0",
        fix_column = "price",
        fix = "abs(price)"
    )
)]
struct AppCheck;

/// A unique label, in the schema `app`.
#[zero_downtime(id = "app_unique", add_unique(schema = "app", table = "items", columns = ["label"]))]
struct AppUnique;

/// A type in the schema `app`, and a value added to it.
#[zero_downtime(id = "app_enum", create_enum(schema = "app", name = "mood", values = ["sad", "ok"]))]
struct AppEnum;

#[zero_downtime(
    id = "app_enum_value",
    add_enum_value(schema = "app", name = "mood", value = "happy")
)]
struct AppEnumValue;

#[test]
fn every_operation_acts_on_the_declared_schema_only() {
    let db = TestDb::new("constraint_operations_schema");
    let mut client = items(&db, 300, true);
    client
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE TABLE app.items (LIKE public.items INCLUDING ALL);
             INSERT INTO app.items SELECT * FROM public.items;",
        )
        .unwrap();
    let public_before = zdm_suite::table_catalog(&mut client, "items");
    let mut runner = db.runner();
    for migration in [&AppCheck as &dyn Migration, &AppUnique, &AppEnum, &AppEnumValue] {
        runner.run_to(migration, Phase::Contract).unwrap();
    }
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM app.items WHERE price < 0"),
        0
    );
    assert_eq!(negatives(&mut client), 52, "public.items is untouched");
    assert_eq!(zdm_suite::table_catalog(&mut client, "items"), public_before);
    assert_eq!(
        scalar::<Vec<String>>(
            &mut client,
            "SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint WHERE conrelid = 'app.items'::regclass \
             AND contype <> 'n'"
        ),
        ["items_label_key", "items_pkey", "items_price_not_negative"]
    );
    assert_eq!(
        scalar::<Vec<String>>(&mut client, "SELECT enum_range(NULL::app.mood)::text[]"),
        ["sad", "ok", "happy"]
    );
    for migration in [&AppEnumValue as &dyn Migration, &AppEnum, &AppUnique, &AppCheck] {
        for phase in Phase::ALL.into_iter().rev() {
            runner.revert(migration, phase).unwrap();
        }
    }
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM app.items WHERE price < 0"),
        52
    );
    assert!(scalar::<bool>(
        &mut client,
        "SELECT to_regtype('app.mood') IS NULL"
    ));
    assert_eq!(
        scalar::<Vec<String>>(
            &mut client,
            "SELECT array_agg(conname::text) FROM pg_constraint WHERE conrelid = 'app.items'::regclass \
             AND contype <> 'n'"
        ),
        ["items_pkey"]
    );
}
