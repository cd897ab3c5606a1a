//! `add_check`, `create_enum` and `add_enum_value` end to end against a real PostgreSQL:
//! the catalog after every phase, the refusals before any change, each reversal restoring
//! the table exactly, and old and new versions writing with prepared statements while the
//! phases run.

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

// ---------------------------------------------------------------------------------------
// create_enum and add_enum_value

/// A mood type for people.
#[zero_downtime(id = "enum_mood", create_enum(name = "mood", values = ["sad", "ok"]))]
struct CreateMood;

/// People can be happy too, between sad and ok.
#[zero_downtime(
    id = "enum_happy",
    add_enum_value(name = "mood", value = "happy", before = "ok")
)]
struct AddHappy;

/// People can be elated, after a value the type does not have.
#[zero_downtime(
    id = "enum_elated",
    add_enum_value(name = "mood", value = "elated", after = "thrilled")
)]
struct AddElatedAfterMissing;

/// The labels of `mood` in their order, or `None` when there is no such type.
fn mood(client: &mut Client) -> Option<Vec<String>> {
    let labels: Option<Vec<String>> = scalar(
        client,
        "SELECT CASE WHEN to_regtype('mood') IS NULL THEN NULL ELSE \
         (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = to_regtype('mood')) END",
    );
    labels
}

fn people(client: &mut Client, rows: i64) {
    client
        .batch_execute(&format!(
            "CREATE TABLE people (id bigint PRIMARY KEY, feels mood NOT NULL);
             INSERT INTO people SELECT g, CASE WHEN g % 2 = 0 THEN 'sad' ELSE 'ok' END::mood
             FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
}

#[test]
fn create_enum_creates_the_type_and_its_reversal_drops_it_only_when_unused() {
    let db = TestDb::new("create_enum_cycle");
    let mut client = db.connect();
    let mut runner = db.runner();
    runner.run_to(&CreateMood, Phase::Contract).unwrap();
    assert_eq!(mood(&mut client), Some(vec!["sad".to_owned(), "ok".to_owned()]));

    people(&mut client, 10);
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync] {
        runner.revert(&CreateMood, phase).unwrap();
    }
    let error = runner.revert(&CreateMood, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 1, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "enum_mood: expand refused before any lock-heavy step: expected nothing uses the type \"mood\", which \
         the reversal drops, found 1 offending row(s); for example:\n  column feels of table people"
    );
    assert!(mood(&mut client).is_some(), "the type is still there");
    assert_eq!(runner.state(&CreateMood).unwrap().completed, Some(Phase::Expand));

    client
        .batch_execute("DROP TABLE people; CREATE DOMAIN fine_mood AS mood")
        .unwrap();
    let error = runner.revert(&CreateMood, Phase::Expand).unwrap_err();
    assert!(
        error.to_string().ends_with("for example:\n  type fine_mood"),
        "{error}"
    );
    client.batch_execute("DROP DOMAIN fine_mood").unwrap();
    runner.revert(&CreateMood, Phase::Expand).unwrap();
    assert_eq!(mood(&mut client), None);
    assert_eq!(runner.state(&CreateMood).unwrap().completed, None);
}

#[test]
fn create_enum_refuses_a_name_that_already_names_a_type() {
    let db = TestDb::new("create_enum_refuses_taken_name");
    let mut client = db.connect();
    client.batch_execute("CREATE TABLE mood (id int)").unwrap();
    let error = db.runner().run(&CreateMood, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_mood: expand refused before any lock-heavy step: expected no type named \"mood\", found 1 \
         offending row(s); for example:\n  mood"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM pg_type WHERE typtype = 'e'"),
        0
    );
}

#[test]
fn create_enum_each_reversal_restores_the_catalog() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("create_enum_revert_{phase}"));
        zdm_suite::assert_revert_restores_with(&db, &CreateMood, phase, mood);
    }
}

#[test]
fn create_enum_old_and_new_versions_writing_during_every_phase() {
    let db = TestDb::new("create_enum_mixed_versions");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE notes (id bigint PRIMARY KEY, feels text NOT NULL)")
        .unwrap();
    let written: Arc<Mutex<BTreeMap<i64, &'static str>>> = Arc::default();
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            client
                .execute("INSERT INTO notes (id, feels) VALUES ($1, 'plain')", &[&id])
                .unwrap();
            record.lock().unwrap().insert(id, "plain");
        },
    );
    // The new version uses the type once expand has finished, as the plan says.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, phase, n| {
            let id = 1_000_000 + n;
            let feels = if n % 2 == 0 { "sad" } else { "ok" };
            if phase == Phase::Expand {
                client
                    .execute("INSERT INTO notes (id, feels) VALUES ($1, 'plain')", &[&id])
                    .unwrap();
                record.lock().unwrap().insert(id, "plain");
            } else {
                client
                    .execute(
                        "INSERT INTO notes (id, feels) VALUES ($1, $2::text::mood::text)",
                        &[&id, &feels],
                    )
                    .unwrap();
                record.lock().unwrap().insert(id, feels);
            }
        },
    );
    run_phases_under_load(&db, &CreateMood, vec![old_version, new_version]);
    let written = written.lock().unwrap();
    assert!(written.values().any(|feels| *feels == "sad"));
    for (id, feels) in written.iter() {
        let row: String = client
            .query_one("SELECT feels FROM notes WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        assert_eq!(row, *feels, "note {id}");
    }
}

#[test]
fn add_enum_value_places_the_value_and_refuses_a_missing_neighbour() {
    let db = TestDb::new("add_enum_value_cycle");
    let mut client = db.connect();
    let mut runner = db.runner();
    let error = runner.run(&AddHappy, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_happy: expand refused before any lock-heavy step: expected an enum type \"mood\" with the \
         value(s) 'ok', found 2 offending row(s); for example:\n  no enum type \"mood\"\n  \
         no value 'ok' in the enum type \"mood\""
    );
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    let error = runner.run(&AddElatedAfterMissing, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_elated: expand refused before any lock-heavy step: expected an enum type \"mood\" with the \
         value(s) 'thrilled', found 1 offending row(s); for example:\n  no value 'thrilled' in the enum type \"mood\""
    );
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
    assert_eq!(
        mood(&mut client),
        Some(vec!["sad".to_owned(), "happy".to_owned(), "ok".to_owned()])
    );
    // Ordered by the declared place, not by when it was added.
    assert!(scalar::<bool>(&mut client, "SELECT 'happy'::mood < 'ok'::mood"));
}

#[test]
fn add_enum_value_reversal_refuses_while_a_row_holds_the_value_and_then_leaves_it_unused() {
    let db = TestDb::new("add_enum_value_revert");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    people(&mut client, 20);
    let mut runner = db.runner();
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
    client
        .batch_execute("UPDATE people SET feels = 'happy' WHERE id IN (3, 4, 5)")
        .unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync] {
        runner.revert(&AddHappy, phase).unwrap();
    }
    let error = runner.revert(&AddHappy, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 3, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "enum_happy: expand refused before any lock-heavy step: expected no row holds 'happy' of \"mood\", which \
         PostgreSQL cannot drop from the type, found 3 offending row(s); for example:\n  \
         people.feels holds it in 3 row(s)"
    );
    client
        .batch_execute("UPDATE people SET feels = 'ok' WHERE feels = 'happy'")
        .unwrap();
    runner.revert(&AddHappy, Phase::Expand).unwrap();
    assert_eq!(runner.state(&AddHappy).unwrap().completed, None);
    assert_eq!(
        mood(&mut client),
        Some(vec!["sad".to_owned(), "happy".to_owned(), "ok".to_owned()]),
        "the unused value stays: PostgreSQL cannot drop it"
    );
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
}

#[test]
fn add_enum_value_each_reversal_restores_the_table() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("add_enum_value_revert_{phase}"));
        let mut client = db.connect();
        client
            .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
            .unwrap();
        people(&mut client, 50);
        assert_revert_restores(&db, &AddHappy, phase, "people");
    }
}

#[test]
fn add_enum_value_old_and_new_versions_writing_during_every_phase() {
    let db = TestDb::new("add_enum_value_mixed_versions");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    people(&mut client, 100);
    let written: Arc<Mutex<BTreeMap<i64, &'static str>>> = Arc::default();
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            let feels = if n % 2 == 0 { "sad" } else { "ok" };
            client
                .execute(
                    "INSERT INTO people (id, feels) VALUES ($1, $2::text::mood)",
                    &[&id, &feels],
                )
                .unwrap();
            record.lock().unwrap().insert(id, feels);
        },
    );
    // The new version writes the new value once expand has finished, as the plan says.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, phase, n| {
            let id = 1_000_000 + n;
            let feels = if phase == Phase::Expand { "ok" } else { "happy" };
            client
                .execute(
                    "INSERT INTO people (id, feels) VALUES ($1, $2::text::mood)",
                    &[&id, &feels],
                )
                .unwrap();
            record.lock().unwrap().insert(id, feels);
        },
    );
    run_phases_under_load(&db, &AddHappy, vec![old_version, new_version]);
    let written = written.lock().unwrap();
    assert!(written.values().any(|feels| *feels == "happy"));
    for (id, feels) in written.iter() {
        let row: String = client
            .query_one("SELECT feels::text FROM people WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        assert_eq!(row, *feels, "person {id}");
    }
}

// ---------------------------------------------------------------------------------------
// add_unique and add_primary_key

/// No two accounts share an email.
#[zero_downtime(id = "unique_email", add_unique(table = "accounts", columns = ["email"]))]
struct UniqueEmail;

/// Accounts are keyed by their code.
#[zero_downtime(id = "pk_code", add_primary_key(table = "accounts", columns = ["code"]))]
struct KeyByCode;

/// Accounts without a primary key, with a NOT NULL code and a nullable email; with
/// `duplicates`, emails 2 and 4 appear three and two times.
fn accounts(db: &TestDb, rows: i64, duplicates: bool) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE accounts (code bigint NOT NULL, email text);
             INSERT INTO accounts SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'a' || g || '@x' END
             FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    if duplicates {
        client
            .batch_execute(
                "INSERT INTO accounts VALUES (-1, 'a2@x'), (-2, 'a2@x'), (-3, 'a4@x'), (-4, NULL), (-5, NULL)",
            )
            .unwrap();
    }
    client
}

fn account_constraints(client: &mut Client) -> Vec<(String, String, bool, String)> {
    constraints(client, "accounts")
}

#[test]
fn add_unique_refuses_duplicates_with_samples_before_any_change() {
    let db = TestDb::new("add_unique_refuses_duplicates");
    let mut client = accounts(&db, 50, true);
    let error = db.runner().run(&UniqueEmail, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 5, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "unique_email: expand refused before any lock-heavy step: expected no two rows of \"accounts\" with the \
         same (\"email\"), found 5 offending row(s); for example:\n  (a2@x) appears 3 times\n  (a4@x) appears 2 times"
    );
    assert!(
        zdm_suite::indexes(&mut client, "accounts").is_empty(),
        "no index, not even an INVALID one"
    );
}

#[test]
fn add_unique_builds_the_index_concurrently_and_attaches_it_in_expand() {
    let db = TestDb::new("add_unique_cycle");
    let mut client = accounts(&db, 500, false);
    let mut runner = db.runner();
    runner.run(&UniqueEmail, Phase::Expand).unwrap();
    assert_eq!(
        account_constraints(&mut client),
        [(
            "accounts_email_key".to_owned(),
            "u".to_owned(),
            true,
            "UNIQUE (email)".to_owned()
        )]
    );
    let refused = client
        .execute("INSERT INTO accounts VALUES (9000, 'a1@x')", &[])
        .unwrap_err();
    assert_eq!(refused.code(), Some(&SqlState::UNIQUE_VIOLATION));
    runner.run_to(&UniqueEmail, Phase::Contract).unwrap();
    assert_eq!(account_constraints(&mut client).len(), 1);
}

#[test]
fn add_unique_drops_an_invalid_leftover_and_builds_again() {
    let db = TestDb::new("add_unique_invalid_leftover");
    let mut client = accounts(&db, 100, false);
    client
        .batch_execute("INSERT INTO accounts VALUES (-1, 'a1@x')")
        .unwrap();
    // A concurrent build that failed on the duplicate leaves its INVALID index behind.
    let failed = client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts USING btree (email)")
        .unwrap_err();
    assert_eq!(failed.code(), Some(&SqlState::UNIQUE_VIOLATION));
    assert!(
        !zdm_suite::indexes(&mut client, "accounts")[0].1,
        "the failed build left an INVALID index"
    );
    client
        .batch_execute("DELETE FROM accounts WHERE code = -1")
        .unwrap();
    db.runner().run(&UniqueEmail, Phase::Expand).unwrap();
    let indexes = zdm_suite::indexes(&mut client, "accounts");
    assert_eq!(indexes.len(), 1);
    assert!(indexes[0].1, "rebuilt valid: {indexes:?}");
}

#[test]
fn add_primary_key_refuses_a_nullable_column_or_an_existing_key() {
    let db = TestDb::new("add_primary_key_refusals");
    let mut client = accounts(&db, 20, false);
    client
        .batch_execute("ALTER TABLE accounts ALTER COLUMN code DROP NOT NULL")
        .unwrap();
    let error = db.runner().run(&KeyByCode, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "pk_code: expand refused before any lock-heavy step: expected every key column of \"accounts\" NOT NULL \
         (make one so first with add_not_null), found 1 offending row(s); for example:\n  code accepts NULLs"
    );
    client
        .batch_execute("ALTER TABLE accounts ALTER COLUMN code SET NOT NULL; ALTER TABLE accounts ADD CONSTRAINT accounts_code_pk PRIMARY KEY (code)")
        .unwrap();
    let error = db.runner().run(&KeyByCode, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "pk_code: expand refused before any lock-heavy step: expected no primary key on \"accounts\", found 1 \
         offending row(s); for example:\n  accounts_code_pk is its primary key"
    );
}

#[test]
fn add_primary_key_attaches_the_concurrent_index_without_a_scan() {
    let db = TestDb::new("add_primary_key_cycle");
    let mut client = accounts(&db, 500, false);
    let (mut runner, notices) = db.runner_with_notices();
    runner.run_to(&KeyByCode, Phase::Contract).unwrap();
    assert_eq!(
        account_constraints(&mut client),
        [(
            "accounts_pkey".to_owned(),
            "p".to_owned(),
            true,
            "PRIMARY KEY (code)".to_owned()
        )]
    );
    let notices = notices.lock().unwrap();
    // The messages are heard: the concurrent build reports itself at the same level.
    assert!(
        notices
            .iter()
            .any(|notice| notice.starts_with("building index \"accounts_pkey\"")),
        "{notices:#?}"
    );
    assert!(
        !notices.iter().any(|notice| notice.starts_with("verifying table")),
        "no scan for NOT NULL: {notices:#?}"
    );
}

#[test]
fn add_unique_and_add_primary_key_each_reversal_restores_the_table() {
    for phase in Phase::ALL {
        for (name, migration) in [("unique", &UniqueEmail as &dyn Migration), ("pk", &KeyByCode)] {
            let db = TestDb::new(&format!("add_{name}_revert_{phase}"));
            accounts(&db, 300, false);
            assert_revert_restores(&db, migration, phase, "accounts");
        }
    }
}

#[test]
fn add_unique_and_add_primary_key_old_and_new_versions_writing_during_every_phase() {
    for (name, migration) in [("unique", &UniqueEmail as &dyn Migration), ("pk", &KeyByCode)] {
        writers_during_every_phase(&format!("add_{name}_mixed_versions"), migration);
    }
}

fn writers_during_every_phase(test: &str, migration: &dyn Migration) {
    let db = TestDb::new(test);
    accounts(&db, 1_000, false);
    let written: Arc<Mutex<BTreeMap<i64, String>>> = Arc::default();
    // Both versions write distinct emails, with prepared statements, from the start.
    let writer = |name: &'static str, base: i64, written: Arc<Mutex<BTreeMap<i64, String>>>| {
        Writer::new(name, Phase::Expand..=Phase::Contract, move |client, _, n| {
            let code = base + n;
            let email = format!("{name} {n}@x");
            client
                .execute(
                    "INSERT INTO accounts (code, email) VALUES ($1, $2)",
                    &[&code, &email],
                )
                .unwrap();
            let changed = n % 1_000 + 1;
            let moved = format!("{name} moved {n}@x");
            client
                .execute(
                    "UPDATE accounts SET email = $2 WHERE code = $1",
                    &[&changed, &moved],
                )
                .unwrap();
            let mut written = written.lock().unwrap();
            written.insert(code, email);
            written.insert(changed, moved);
        })
    };
    let old_version = writer("old", 100_000, written.clone());
    let new_version = writer("new", 1_000_000, written.clone());
    run_phases_under_load(&db, migration, vec![old_version, new_version]);
    let mut client = db.connect();
    assert_eq!(account_constraints(&mut client).len(), 1);
    for (code, email) in written.lock().unwrap().iter() {
        let row: String = client
            .query_one("SELECT email FROM accounts WHERE code = $1", &[code])
            .unwrap()
            .get(0);
        assert_eq!(&row, email, "account {code}");
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
            "SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint WHERE conrelid = 'app.items'::regclass"
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
            "SELECT array_agg(conname::text) FROM pg_constraint WHERE conrelid = 'app.items'::regclass"
        ),
        ["items_pkey"]
    );
}
