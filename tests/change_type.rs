//! `change_type` end to end against a real PostgreSQL: the copy path (a new column,
//! converted both ways by the trigger, swapped in under the old name with everything the
//! old column carried), the in-place path for binary-coercible changes, each reversal
//! restoring the table exactly, and values that cannot convert refused with samples.

use postgres::Client;
use zdm_runtime::{zero_downtime, Action, Carry, CarryWork, Error, Migration, Phase};
use zdm_suite::{assert_revert_restores, contents, table_catalog};
use zdm_suite::{column, indexes, run_phases_under_load, scalar, triggers, TestDb, Writer};

/// Amounts get cents: integer → numeric(12,2), by plain casts both ways.
#[zero_downtime(
    id = "amount_numeric",
    change_type(table = "orders", column = "amount", to = "numeric(12,2)")
)]
struct AmountToNumeric;

/// Amounts are stored in cents: declared conversions and a declared default.
#[zero_downtime(
    id = "amount_cents",
    change_type(
        table = "orders",
        column = "amount",
        to = "bigint",
        up = "amount * 100",
        down = "amount / 100",
        default = "0"
    )
)]
struct AmountToCents;

/// varchar(50) → varchar(200): binary-coercible, so in place.
#[zero_downtime(
    id = "note_wider",
    change_type(table = "orders", column = "note", to = "varchar(200)")
)]
struct WidenNote;

#[zero_downtime(
    id = "code_integer",
    change_type(table = "orders", column = "code", to = "integer")
)]
struct CodeToInteger;

const SCHEMA: &str = "
    CREATE TABLE orders (
        id bigint PRIMARY KEY,
        amount integer NOT NULL DEFAULT 0 CONSTRAINT orders_amount_positive CHECK (amount >= 0),
        note varchar(50),
        code text
    );
    CREATE INDEX orders_amount_idx ON orders (amount);
    CREATE INDEX orders_note_idx ON orders (note);
    COMMENT ON COLUMN orders.amount IS 'in whole euros';";

fn orders(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client.batch_execute(SCHEMA).unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO orders SELECT g, g * 3, 'note ' || g, (g % 100)::text FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

fn type_of(client: &mut Client, name: &str) -> Option<String> {
    column(client, "orders", name).map(|column| column.ty)
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("change_type_full_cycle");
    let mut client = orders(&db, 1_000);
    let original = table_catalog(&mut client, "orders");
    let mut runner = db.runner();

    let report = runner.run(&AmountToNumeric, Phase::Expand).unwrap();
    assert_eq!(
        report.steps[3].note.as_deref(),
        Some(
            "integer → numeric(12,2) by copy; carries NOT NULL, DEFAULT '0.00'::numeric(12,2), index \
             orders_amount_idx, check constraint orders_amount_positive, the comment"
        )
    );
    let mut expected = original.clone();
    expected.push("column amount_zdm_new numeric(12,2) collate - not null f default  comment ".to_owned());
    expected.sort();
    assert_eq!(
        table_catalog(&mut client, "orders"),
        expected,
        "only the new column was added"
    );

    runner.run(&AmountToNumeric, Phase::Sync).unwrap();
    assert_eq!(
        triggers(&mut client, "orders"),
        ["zdm_sync_orders_amount_amount_zdm_new"]
    );
    // The old version writes integers, the new version numerics; each shows in the other.
    client
        .execute("INSERT INTO orders (id, amount) VALUES (5001, 42)", &[])
        .unwrap();
    client
        .execute("INSERT INTO orders (id, amount_zdm_new) VALUES (5002, 7.25)", &[])
        .unwrap();
    client
        .execute("UPDATE orders SET amount = 9 WHERE id = 1", &[])
        .unwrap();
    client
        .execute("UPDATE orders SET amount_zdm_new = 10.5 WHERE id = 2", &[])
        .unwrap();
    let pair = |client: &mut Client, id: i64| -> String {
        scalar(
            client,
            &format!("SELECT amount || ' / ' || amount_zdm_new FROM orders WHERE id = {id}"),
        )
    };
    assert_eq!(pair(&mut client, 5001), "42 / 42.00");
    assert_eq!(
        pair(&mut client, 5002),
        "7 / 7.25",
        "the old shape sees the cast value"
    );
    assert_eq!(pair(&mut client, 1), "9 / 9.00");
    assert_eq!(pair(&mut client, 2), "11 / 10.50");

    let report = runner.run(&AmountToNumeric, Phase::Backfill).unwrap();
    assert_eq!(report.steps[1].rows, 998);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM orders WHERE amount_zdm_new IS NULL OR round(amount_zdm_new) <> amount"
        ),
        0
    );
    assert_eq!(
        indexes(&mut client, "orders")
            .into_iter()
            .find(|(name, ..)| name == "zdm_orders_amount_idx")
            .map(|(_, valid, definition)| (valid, definition)),
        Some((
            true,
            "CREATE INDEX zdm_orders_amount_idx ON public.orders USING btree (amount_zdm_new)".to_owned()
        ))
    );

    runner.run(&AmountToNumeric, Phase::Contract).unwrap();
    assert!(column(&mut client, "orders", "amount_zdm_new").is_none());
    assert!(triggers(&mut client, "orders").is_empty());
    assert_eq!(
        scalar::<String>(&mut client, "SELECT amount::text FROM orders WHERE id = 5002"),
        "7.25"
    );
    // What PostgreSQL's own ALTER COLUMN TYPE (a rewrite under ACCESS EXCLUSIVE) would
    // give, but for the default, which zdm converts to a literal of the new type.
    let in_place = {
        let twin = TestDb::new("change_type_full_cycle_twin");
        let mut twin_client = orders(&twin, 0);
        twin_client
            .batch_execute(
                "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);
                 ALTER TABLE orders ALTER COLUMN amount SET DEFAULT '0.00'::numeric(12,2)",
            )
            .unwrap();
        table_catalog(&mut twin_client, "orders")
    };
    assert_eq!(table_catalog(&mut client, "orders"), in_place);
    assert!(table_catalog(&mut client, "orders").contains(
        &"constraint orders_amount_positive c valid true: CHECK ((amount >= (0)::numeric))".to_owned()
    ));
    // The carried constraint and default hold.
    let error = client
        .execute("UPDATE orders SET amount = -1 WHERE id = 3", &[])
        .unwrap_err();
    assert_eq!(
        error.as_db_error().unwrap().constraint(),
        Some("orders_amount_positive")
    );
    client
        .execute("INSERT INTO orders (id) VALUES (6000)", &[])
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT amount::text FROM orders WHERE id = 6000"),
        "0.00"
    );
}

#[test]
fn each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [
            ("numeric", &AmountToNumeric as &dyn Migration),
            ("cents", &AmountToCents),
            ("note", &WidenNote),
        ] {
            let db = TestDb::new(&format!("change_type_revert_{name}_{phase}"));
            orders(&db, 500);
            assert_revert_restores(&db, migration, phase, "orders");
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    for (name, migration) in [
        ("numeric", &AmountToNumeric as &dyn Migration),
        ("cents", &AmountToCents),
        ("note", &WidenNote),
    ] {
        let db = TestDb::new(&format!("change_type_revert_all_{name}"));
        let mut client = orders(&db, 300);
        let before = (
            contents(&mut client, "orders"),
            table_catalog(&mut client, "orders"),
        );
        let mut runner = db.runner();
        runner.run_to(migration, Phase::Contract).unwrap();
        for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
            runner.revert(migration, phase).unwrap();
        }
        assert_eq!(
            (
                contents(&mut client, "orders"),
                table_catalog(&mut client, "orders")
            ),
            before,
            "{name}"
        );
    }
}

#[test]
fn declared_conversions_and_default_are_used_everywhere() {
    let db = TestDb::new("change_type_declared_conversions");
    let mut client = orders(&db, 200);
    let mut runner = db.runner();
    runner.run_to(&AmountToCents, Phase::Sync).unwrap();
    client
        .execute("INSERT INTO orders (id, amount) VALUES (5001, 12)", &[])
        .unwrap();
    client
        .execute("INSERT INTO orders (id, amount_zdm_new) VALUES (5002, 345)", &[])
        .unwrap();
    runner.run_to(&AmountToCents, Phase::Contract).unwrap();
    assert_eq!(type_of(&mut client, "amount").as_deref(), Some("bigint"));
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT amount FROM orders WHERE id = 7"),
        2_100
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT amount FROM orders WHERE id = 5001"),
        1_200
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT amount FROM orders WHERE id = 5002"),
        345
    );
    assert_eq!(
        column(&mut client, "orders", "amount")
            .unwrap()
            .default
            .as_deref(),
        Some("0")
    );
    // Reverting the contract converts back with `down`: 345 cents are 3 euros.
    runner.revert(&AmountToCents, Phase::Contract).unwrap();
    assert_eq!(type_of(&mut client, "amount").as_deref(), Some("integer"));
    assert_eq!(
        scalar::<i32>(&mut client, "SELECT amount FROM orders WHERE id = 5002"),
        3
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT amount_zdm_new FROM orders WHERE id = 5002"),
        345
    );
}

#[test]
fn a_binary_coercible_change_happens_in_place_in_expand() {
    let db = TestDb::new("change_type_in_place");
    let mut client = orders(&db, 500);
    let files = |client: &mut Client| -> (u32, u32) {
        let row = client
            .query_one(
                "SELECT pg_relation_filenode('orders')::oid, pg_relation_filenode('orders_note_idx')::oid",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let before = files(&mut client);
    let original = table_catalog(&mut client, "orders");
    let mut runner = db.runner();
    let report = runner.run(&WidenNote, Phase::Expand).unwrap();
    assert_eq!(
        report.steps[3].note.as_deref(),
        Some("character varying(50) → character varying(200) changes in place (binary-coercible, no index rebuilt); nothing to copy")
    );
    assert_eq!(
        report.steps[4].note.as_deref(),
        Some("skipped: the type was changed in place"),
        "no conversion check"
    );
    assert_eq!(
        type_of(&mut client, "note").as_deref(),
        Some("character varying(200)")
    );
    assert_eq!(
        files(&mut client),
        before,
        "neither the table nor its index was rewritten"
    );
    assert!(column(&mut client, "orders", "note_zdm_new").is_none());
    for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
        let report = runner.run(&WidenNote, phase).unwrap();
        // Every step of the copy path ran and skipped itself, not a phase of no steps.
        assert_eq!(report.steps.len(), WidenNote.plan().phase(phase).forward.len());
        assert!(!report.steps.is_empty(), "{phase}");
        assert!(
            report
                .steps
                .iter()
                .all(|step| step.note.as_deref() == Some("skipped: the type was changed in place")),
            "{report}"
        );
    }
    assert!(triggers(&mut client, "orders").is_empty());
    let mut expected: Vec<String> = original
        .iter()
        .map(|line| line.replace("note character varying(50)", "note character varying(200)"))
        .collect();
    expected.sort();
    assert_eq!(
        table_catalog(&mut client, "orders"),
        expected,
        "only the type changed"
    );
    // A change that needs the values rewritten is copied, however close the types.
    #[zero_downtime(
        id = "note_narrower",
        change_type(table = "orders", column = "note", to = "varchar(20)")
    )]
    struct NarrowNote;
    let report = runner.run(&NarrowNote, Phase::Expand).unwrap();
    assert!(
        report.steps[3]
            .note
            .as_deref()
            .unwrap()
            .starts_with("character varying(200) → character varying(20) by copy"),
        "{report}"
    );
}

/// The seed's trigger fires `BEFORE UPDATE` only: a row the old version inserts during the
/// transition has nothing in the new column. Ours converts it on INSERT too.
#[test]
fn an_insert_by_the_old_version_is_converted_into_the_new_column() {
    let db = TestDb::new("change_type_seed_insert");
    let mut client = orders(&db, 10);
    let mut runner = db.runner();
    runner.run_to(&AmountToNumeric, Phase::Sync).unwrap();
    client
        .execute("INSERT INTO orders (id, amount) VALUES (11, 5)", &[])
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(
            &mut client,
            "SELECT amount_zdm_new::text FROM orders WHERE id = 11"
        ),
        Some("5.00".to_owned())
    );
    // Relying on the old column's default works too.
    client
        .execute("INSERT INTO orders (id) VALUES (12)", &[])
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(
            &mut client,
            "SELECT amount_zdm_new::text FROM orders WHERE id = 12"
        ),
        Some("0.00".to_owned())
    );
}

/// Values `up` cannot convert are counted and shown before anything changes; rows written
/// before the trigger existed are checked again before the backfill.
#[test]
fn values_that_cannot_convert_are_refused_with_samples() {
    let db = TestDb::new("change_type_not_convertible");
    let mut client = orders(&db, 100);
    client
        .batch_execute("UPDATE orders SET code = 'A' || id WHERE id IN (17, 42)")
        .unwrap();
    let before = (
        contents(&mut client, "orders"),
        table_catalog(&mut client, "orders"),
    );
    let mut runner = db.runner();
    let error = runner.run(&CodeToInteger, Phase::Expand).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{message}");
    assert_eq!(
        message,
        "code_integer: expand refused before any lock-heavy step: expected every value of \"orders\".\"code\" \
         convertible to integer by `up`, found 2 offending row(s); for example:\n  (17,51,\"note 17\",A17)\n  \
         (42,126,\"note 42\",A42)"
    );
    assert_eq!(
        (
            contents(&mut client, "orders"),
            table_catalog(&mut client, "orders")
        ),
        before,
        "nothing changed"
    );
    runner.revert(&CodeToInteger, Phase::Expand).unwrap();

    // Fixed, expand goes through; a bad value written before the trigger is caught before
    // the backfill, and one written after it is refused by the trigger itself.
    client
        .batch_execute("UPDATE orders SET code = id::text WHERE id IN (17, 42)")
        .unwrap();
    runner.run(&CodeToInteger, Phase::Expand).unwrap();
    client
        .execute("INSERT INTO orders (id, code) VALUES (500, 'x500')", &[])
        .unwrap();
    runner.run(&CodeToInteger, Phase::Sync).unwrap();
    let error = client
        .execute("INSERT INTO orders (id, code) VALUES (501, 'x501')", &[])
        .unwrap_err();
    assert!(
        error
            .as_db_error()
            .unwrap()
            .message()
            .contains("invalid input syntax for type integer"),
        "{error}"
    );
    let error = runner.run(&CodeToInteger, Phase::Backfill).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 1, .. }), "{error}");
    assert!(
        error.to_string().ends_with("for example:\n  (500,0,,x500,)"),
        "{error}"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(code_zdm_new) FROM orders"),
        0,
        "nothing was copied"
    );
}

/// Drift and what cannot be carried or converted are refused before any change.
/// The one-scan statements the plan carries for its conversion checks.
fn scans(migration: &dyn Migration) -> Vec<String> {
    [Phase::Expand, Phase::Backfill]
        .into_iter()
        .flat_map(|phase| migration.plan().phase(phase).forward.iter())
        .filter_map(|step| match &step.action {
            Action::Carry(Carry {
                work: CarryWork::CheckConvertible { scan, .. },
                ..
            }) => Some(scan.to_string()),
            _ => None,
        })
        .collect()
}

/// The one scan is only a shortcut: an error of any kind sends the check to the slow
/// per-row count, so a scan that never runs would go unnoticed by the other tests.
#[test]
fn the_one_scan_check_runs_as_planned_and_fails_on_a_value_that_does_not_convert() {
    let db = TestDb::new("change_type_one_scan");
    let mut client = orders(&db, 100);
    for migration in [&AmountToNumeric as &dyn Migration, &AmountToCents, &CodeToInteger] {
        let scans = scans(migration);
        assert_eq!(
            scans.len(),
            2,
            "{}: one check in expand, one in backfill",
            migration.id()
        );
        for scan in scans {
            assert_eq!(scalar::<i64>(&mut client, &scan), 100, "{scan}");
        }
    }
    client
        .batch_execute("UPDATE orders SET code = 'A' || id WHERE id = 17")
        .unwrap();
    let error = client
        .query_one(scans(&CodeToInteger)[0].as_str(), &[])
        .unwrap_err();
    assert_eq!(
        error.as_db_error().map(|db| db.message()),
        Some("invalid input syntax for type integer: \"A17\""),
        "{error}"
    );
}

#[test]
fn what_cannot_be_changed_is_refused_before_any_change() {
    let db = TestDb::new("change_type_refusals");
    let mut client = orders(&db, 20);
    client
        .batch_execute(
            "ALTER TABLE orders ADD COLUMN day integer DEFAULT extract(doy FROM now())::integer;
             ALTER TABLE orders ADD COLUMN label text CHECK (length(label) < 10);",
        )
        .unwrap();
    let before = (
        contents(&mut client, "orders"),
        table_catalog(&mut client, "orders"),
    );
    let mut runner = db.runner();
    let mut refusal = |migration: &dyn Migration| {
        let error = runner.run(migration, Phase::Expand).unwrap_err();
        // Refused before any change, expand leaves no state to resume or revert.
        assert_eq!(runner.state(migration).unwrap(), Default::default());
        assert!(matches!(error, Error::Refused { .. }), "{error}");
        error.to_string()
    };

    #[zero_downtime(
        id = "day_bigint",
        change_type(
            table = "orders",
            column = "day",
            to = "bigint",
            up = "day + 0",
            down = "day::integer"
        )
    )]
    struct DayToBigint;
    // The default as the server prints it: `EXTRACT(doy FROM now())` from 14 on,
    // `date_part('doy'::text, now())` before.
    let day_default = column(&mut client, "orders", "day").unwrap().default.unwrap();
    assert_eq!(
        refusal(&DayToBigint),
        format!(
            "day_bigint: refused before any change: \"orders\".\"day\" cannot be carried to \"day_zdm_new\" safely:\n  \
             - \"day\" has the default {day_default}, and with `up` declared zdm cannot tell what it \
             becomes in bigint; declare it with `default = \"…\"`"
        )
    );

    #[zero_downtime(
        id = "label_integer",
        change_type(table = "orders", column = "label", to = "integer")
    )]
    struct LabelToInteger;
    let message = refusal(&LabelToInteger);
    assert!(
        message.contains(
            "- the check constraint orders_label_check cannot be carried to integer: function length(integer) does \
             not exist"
        ),
        "{message}"
    );

    #[zero_downtime(
        id = "amount_integer",
        change_type(table = "orders", column = "amount", to = "int4")
    )]
    struct AmountToInteger;
    assert!(refusal(&AmountToInteger)
        .ends_with("- \"amount\" already has the type integer; there is nothing to change"),);

    #[zero_downtime(
        id = "amount_mood",
        change_type(table = "orders", column = "amount", to = "\"mood\"")
    )]
    struct AmountToMood;
    assert!(
        refusal(&AmountToMood).contains("- the type \"mood\" does not work: type \"mood\" does not exist")
    );

    assert_eq!(
        (
            contents(&mut client, "orders"),
            table_catalog(&mut client, "orders")
        ),
        before,
        "nothing changed"
    );
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    let db = TestDb::new("change_type_mixed_versions");
    orders(&db, 2_000);
    // The last amount each version wrote to each row, as the final numeric text. The old
    // version owns odd ids and its inserts, the new one even ids and its inserts.
    let written: Arc<Mutex<HashMap<i64, Option<String>>>> = Arc::default();
    let old_log = written.clone();
    // The old version writes integers to `amount` until the contract starts.
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, phase, n| {
            let id = 100_000 + n;
            let amount = (n % 1_000) as i32;
            client
                .execute(
                    "INSERT INTO orders (id, amount) VALUES ($1, $2::integer)",
                    &[&id, &amount],
                )
                .unwrap();
            old_log.lock().unwrap().insert(id, Some(format!("{amount}.00")));
            let target = (n * 2 + 1) % 2_000;
            client
                .execute(
                    "UPDATE orders SET amount = $2::integer WHERE id = $1",
                    &[&target, &(amount + 1)],
                )
                .unwrap();
            old_log
                .lock()
                .unwrap()
                .insert(target, Some(format!("{}.00", amount + 1)));
            if n % 5 == 0 {
                client
                    .execute("DELETE FROM orders WHERE id = $1", &[&id])
                    .unwrap();
                old_log.lock().unwrap().insert(id, None);
            }
            if phase == Phase::Backfill {
                // Once the trigger is in, a change through either column shows in both (an
                // UPDATE to the same value changes nothing, and leaves the row to the backfill).
                let row = client
                    .query_one(
                        "SELECT amount::integer, amount_zdm_new::text FROM orders WHERE id = $1",
                        &[&target],
                    )
                    .unwrap();
                let (old, new): (i32, Option<String>) = (row.get(0), row.get(1));
                assert_eq!(old, amount + 1);
                if let Some(new) = new {
                    assert_eq!(new, format!("{}.00", amount + 1));
                }
            }
        },
    );
    let new_log = written.clone();
    // The new version's writes during contract, through each shape.
    let (before_swap, after_swap) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (before, after) = (before_swap.clone(), after_swap.clone());
    // The new version, deployed once sync is done, writes cents to the new column until
    // the contract has swapped it in and to `amount` from then on, as the README says, so
    // it writes through the whole contract. It takes the table's write lock before it
    // looks at the catalog: the swap needs ACCESS EXCLUSIVE, so it cannot come between
    // the look and the writes.
    let new_version = Writer::new(
        "new version",
        Phase::Backfill..=Phase::Contract,
        move |client, phase, n| {
            let mut transaction = client.transaction().unwrap();
            transaction
                .batch_execute("LOCK TABLE orders IN ROW EXCLUSIVE MODE")
                .unwrap();
            let swapped: bool = transaction
                .query_one(
                    "SELECT format_type(atttypid, atttypmod) = 'numeric(12,2)' FROM pg_attribute \
                     WHERE attrelid = 'orders'::regclass AND attname = 'amount'",
                    &[],
                )
                .unwrap()
                .get(0);
            assert!(!swapped || phase == Phase::Contract, "swapped before contract");
            let column = if swapped { "amount" } else { "amount_zdm_new" };
            let id = 1_000_000 + n;
            let cents = format!("{}.{:02}", n % 1_000, n % 100);
            transaction
                .execute(
                    &format!("INSERT INTO orders (id, {column}) VALUES ($1, $2::text::numeric)"),
                    &[&id, &cents],
                )
                .unwrap();
            let target = (n * 2) % 2_000 + 2;
            transaction
                .execute(
                    &format!("UPDATE orders SET {column} = $2::text::numeric WHERE id = $1"),
                    &[&target, &cents],
                )
                .unwrap();
            let deleted = n % 7 == 0;
            if deleted {
                transaction
                    .execute("DELETE FROM orders WHERE id = $1", &[&id])
                    .unwrap();
            }
            transaction.commit().unwrap();
            let mut log = new_log.lock().unwrap();
            log.insert(id, (!deleted).then(|| cents.clone()));
            log.insert(target, Some(cents));
            if phase == Phase::Contract {
                let shape = if swapped { &after_swap } else { &before_swap };
                shape.fetch_add(1, Ordering::SeqCst);
            }
        },
    );
    run_phases_under_load(&db, &AmountToNumeric, vec![old_version, new_version]);
    // The harness holds each contract step until the new version has written, and lets
    // it write after the phase, so both shapes were written during contract.
    assert!(
        before.load(Ordering::SeqCst) > 0,
        "the new version wrote amount_zdm_new during contract"
    );
    assert!(
        after.load(Ordering::SeqCst) > 0,
        "the new version wrote amount after the swap"
    );

    let mut client = db.connect();
    assert_eq!(type_of(&mut client, "amount").as_deref(), Some("numeric(12,2)"));
    let rows: HashMap<i64, String> = client
        .query("SELECT id, amount::text FROM orders", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let written = written.lock().unwrap();
    assert!(written.keys().any(|id| *id >= 1_000_000), "the new version wrote");
    assert!(
        written.keys().any(|id| (100_000..1_000_000).contains(id)),
        "the old version wrote"
    );
    for (id, value) in written.iter() {
        assert_eq!(rows.get(id), value.as_ref(), "row {id}");
    }
    for id in 1..=2_000 {
        if !written.contains_key(&id) {
            assert_eq!(rows.get(&id), Some(&format!("{}.00", id * 3)), "row {id}");
        }
    }
}
