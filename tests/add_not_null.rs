//! `add_not_null` end to end against a real PostgreSQL: the catalog after every phase, each
//! reversal restoring the table exactly (the NULLs the backfill filled come back), old and
//! new versions writing through the transition, and no bare SET NOT NULL anywhere.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::Client;
use zdm_runtime::{zero_downtime, BackfillRoute, BatchSize, Error, Migration, Options, Phase};
use zdm_suite::{
    assert_revert_restores_with, checksum, column, columns, constraints, functions, proves_not_null,
    run_phases_under_load, scalar, test_options, trigger_definitions, triggers, TestDb, Writer,
};

/// Every user has an email; the ones without get a placeholder.
#[zero_downtime(
    id = "nn_email",
    add_not_null(table = "users", column = "email", backfill = "'unknown@example.com'")
)]
struct RequireEmail;

/// Every user has an email, derived from the id where missing.
#[zero_downtime(
    id = "nn_email_derived",
    add_not_null(
        table = "users",
        column = "email",
        backfill = "'user' || id || '@example.com'"
    )
)]
struct RequireDerivedEmail;

/// Every user has a name; no version writes one without it any more.
#[zero_downtime(id = "nn_name", add_not_null(table = "users", column = "name"))]
struct RequireName;

/// Users, every seventh without an email; every name is set but the column is nullable.
fn users(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);
             INSERT INTO users SELECT g, 'name ' || g, CASE WHEN g % 7 <> 0 THEN 'u' || g || '@x' END
                               FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

fn checks(client: &mut Client) -> Vec<(String, bool, String)> {
    constraints(client, "users")
        .into_iter()
        .filter(|(_, kind, ..)| kind == "c")
        .map(|(name, _, valid, definition)| (name, valid, definition))
        .collect()
}

fn nulls(client: &mut Client, column: &str) -> i64 {
    scalar(
        client,
        &format!("SELECT count(*) FROM users WHERE {column} IS NULL"),
    )
}

#[test]
fn full_cycle_with_a_value_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("add_not_null_full_cycle");
    let mut client = users(&db, 1_000);
    let mut runner = db.runner();

    runner.run(&RequireEmail, Phase::Expand).unwrap();
    assert!(!column(&mut client, "users", "email").unwrap().not_null);
    assert!(
        checks(&mut client).is_empty(),
        "the old version's NULL writes still work"
    );
    assert!(triggers(&mut client, "users").is_empty());

    runner.run(&RequireEmail, Phase::Sync).unwrap();
    assert_eq!(triggers(&mut client, "users"), ["zdm_sync_users_email"]);
    // The old version writes NULLs: the trigger turns each into the declared value (the
    // seed's BEFORE UPDATE triggers would let the INSERT through as NULL).
    client
        .batch_execute(
            "INSERT INTO users (id, name) VALUES (5000, 'old');
             UPDATE users SET email = NULL WHERE id = 1;",
        )
        .unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE id IN (1, 5000) AND email = 'unknown@example.com'"
        ),
        2
    );
    assert_eq!(nulls(&mut client, "email"), 142);

    let report = runner.run(&RequireEmail, Phase::Backfill).unwrap();
    assert_eq!(
        report.steps[1].rows, 142,
        "each NULL row written once, in keyset batches"
    );
    assert_eq!(nulls(&mut client, "email"), 0);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM zdm.nn_email_filled, unnest(zdm_keys)"
        ),
        142
    );

    runner.run(&RequireEmail, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "email").unwrap().not_null);
    assert!(checks(&mut client).is_empty(), "the check is gone");
    assert!(triggers(&mut client, "users").is_empty());
    let refused = client
        .execute("INSERT INTO users (id, name) VALUES (6000, 'late')", &[])
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&postgres::error::SqlState::NOT_NULL_VIOLATION)
    );
}

#[test]
fn full_cycle_without_a_value_refuses_null_writes_from_expand_on() {
    let db = TestDb::new("add_not_null_no_value");
    let mut client = users(&db, 500);
    let mut runner = db.runner();
    runner.run(&RequireName, Phase::Expand).unwrap();
    assert_eq!(
        checks(&mut client),
        [(
            "zdm_users_name_nn".to_owned(),
            false,
            "CHECK ((name IS NOT NULL)) NOT VALID".to_owned()
        )]
    );
    assert!(!column(&mut client, "users", "name").unwrap().not_null);
    let refused = client
        .execute("INSERT INTO users (id) VALUES (5000)", &[])
        .unwrap_err();
    assert_eq!(refused.code(), Some(&postgres::error::SqlState::CHECK_VIOLATION));

    runner.run(&RequireName, Phase::Sync).unwrap();
    runner.run(&RequireName, Phase::Backfill).unwrap();
    assert!(triggers(&mut client, "users").is_empty());
    assert!(!checks(&mut client)[0].1, "still NOT VALID until the contract");

    runner.run(&RequireName, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "name").unwrap().not_null);
    assert!(checks(&mut client).is_empty());
}

fn snapshot(client: &mut Client) -> impl PartialEq + std::fmt::Debug {
    (
        checksum(client, "users"),
        columns(client, "users"),
        trigger_definitions(client, "users"),
        constraints(client, "users"),
        functions(client),
        scalar::<i64>(client, "SELECT count(*) FROM pg_tables WHERE schemaname = 'zdm'"),
    )
}

#[test]
fn each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [
            ("value", &RequireEmail as &dyn Migration),
            ("derived", &RequireDerivedEmail),
            ("none", &RequireName),
        ] {
            let db = TestDb::new(&format!("add_not_null_revert_{name}_{phase}"));
            users(&db, 600);
            assert_revert_restores_with(&db, migration, phase, snapshot);
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_gives_the_nulls_back() {
    let db = TestDb::new("add_not_null_revert_all");
    let mut client = users(&db, 300);
    let mut runner = db.runner();
    let before = snapshot(&mut client);
    runner.run_to(&RequireDerivedEmail, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email FROM users WHERE id = 7"),
        "user7@example.com"
    );
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&RequireDerivedEmail, phase).unwrap();
    }
    assert_eq!(snapshot(&mut client), before);
    assert_eq!(nulls(&mut client, "email"), 42);
}

#[test]
fn the_record_holds_one_row_per_batch_and_the_reversal_restores_only_its_keys() {
    let db = TestDb::new("add_not_null_record_per_batch");
    let mut client = users(&db, 700);
    // Batches of 100 keys; a heap-page batch covers pages, whatever rows they hold.
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(100),
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&RequireEmail, Phase::Sync).unwrap();
    let report = runner.run(&RequireEmail, Phase::Backfill).unwrap();
    assert_eq!(report.steps[1].rows, 100, "every seventh of 700 rows");
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM zdm.nn_email_filled"),
        7,
        "one row for each batch of 100 keys; the empty last batch records nothing"
    );
    assert_eq!(
        scalar::<Vec<i32>>(
            &mut client,
            "SELECT array_agg(cardinality(zdm_keys) ORDER BY cardinality(zdm_keys)) FROM zdm.nn_email_filled"
        ),
        [14, 14, 14, 14, 14, 15, 15]
    );
    // The application writes the placeholder itself into rows the backfill never filled.
    client
        .batch_execute(
            "UPDATE users SET email = 'unknown@example.com' WHERE id IN (1, 2);
             INSERT INTO users (id, name, email) VALUES (5000, 'new', 'unknown@example.com');",
        )
        .unwrap();
    runner.revert(&RequireEmail, Phase::Backfill).unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE email IS NULL AND id % 7 = 0"
        ),
        100
    );
    assert_eq!(nulls(&mut client, "email"), 100, "only the rows it filled");
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE email = 'unknown@example.com'"
        ),
        3
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'zdm'::regnamespace AND relname LIKE 'nn_email_filled%'"
        ),
        0,
        "the record and its lookup are gone"
    );
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("add_not_null_mixed_versions");
    users(&db, 1_000);
    // What each version wrote, by user id: the email it wrote (None for NULL), or a
    // deletion.
    #[derive(Debug, PartialEq)]
    enum Wrote {
        Email(Option<String>),
        Deleted,
    }
    let written: Arc<Mutex<BTreeMap<i64, Wrote>>> = Arc::default();

    // The old version writes users without email and clears emails; it is gone once
    // contract starts.
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            client
                .execute("INSERT INTO users (id, name) VALUES ($1, 'old')", &[&id])
                .unwrap();
            record.lock().unwrap().insert(id, Wrote::Email(None));
            let cleared = (n % 500) * 2 + 2;
            client
                .execute("UPDATE users SET email = NULL WHERE id = $1", &[&cleared])
                .unwrap();
            record.lock().unwrap().insert(cleared, Wrote::Email(None));
            if n % 3 == 0 {
                client.execute("DELETE FROM users WHERE id = $1", &[&id]).unwrap();
                record.lock().unwrap().insert(id, Wrote::Deleted);
            }
        },
    );
    // The new version never writes NULL; it may run from the start.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, _, n| {
            let id = 1_000_000 + n;
            let email = format!("new{n}@x");
            client
                .execute(
                    "INSERT INTO users (id, name, email) VALUES ($1, 'new', $2)",
                    &[&id, &email],
                )
                .unwrap();
            record
                .lock()
                .unwrap()
                .insert(id, Wrote::Email(Some(email.clone())));
            let changed = (n % 500) * 2 + 1;
            client
                .execute("UPDATE users SET email = $2 WHERE id = $1", &[&changed, &email])
                .unwrap();
            record.lock().unwrap().insert(changed, Wrote::Email(Some(email)));
        },
    );
    run_phases_under_load(&db, &RequireEmail, vec![old_version, new_version]);

    let mut client = db.connect();
    assert!(column(&mut client, "users", "email").unwrap().not_null);
    let written = written.lock().unwrap();
    assert!(
        written.keys().any(|id| *id >= 1_000_000)
            && written.keys().any(|id| (100_000..1_000_000).contains(id))
    );
    for (id, wrote) in written.iter() {
        let row = client
            .query_opt("SELECT email FROM users WHERE id = $1", &[id])
            .unwrap()
            .map(|row| row.get::<_, String>(0));
        match wrote {
            Wrote::Deleted => assert_eq!(row, None, "user {id}"),
            // A NULL the old version wrote reads as the declared value.
            Wrote::Email(None) => assert_eq!(row.as_deref(), Some("unknown@example.com"), "user {id}"),
            Wrote::Email(Some(email)) => assert_eq!(row.as_ref(), Some(email), "user {id}"),
        }
    }
}

#[test]
fn set_not_null_is_proven_by_the_validated_check_without_a_scan() {
    for (name, migration) in [("value", &RequireEmail as &dyn Migration), ("none", &RequireName)] {
        let db = TestDb::new(&format!("add_not_null_no_bare_set_not_null_{name}"));
        users(&db, 300);
        let (mut runner, notices) = db.runner_with_notices();
        runner.run_to(migration, Phase::Backfill).unwrap();
        notices.lock().unwrap().clear();
        runner.run(migration, Phase::Contract).unwrap();
        let notices = notices.lock().unwrap();
        let column = if name == "none" { "name" } else { "email" };
        let proven = notices
            .iter()
            .position(|notice| proves_not_null(notice, "users", column))
            .unwrap_or_else(|| panic!("{name}: SET NOT NULL scanned the table: {notices:#?}"));
        let scans = notices
            .iter()
            .enumerate()
            .filter(|(_, notice)| notice.as_str() == "verifying table \"users\"")
            .map(|(at, _)| at)
            .collect::<Vec<_>>();
        assert_eq!(scans.len(), 1, "{name}: the validation alone scans: {notices:#?}");
        assert!(scans[0] < proven, "{name}");
    }
}

#[test]
fn nulls_left_without_a_value_refuse_the_contract_with_samples() {
    let db = TestDb::new("add_not_null_nulls_refused");
    let mut client = users(&db, 50);
    // Rows that were NULL before the check are not scanned by NOT VALID.
    client
        .batch_execute("UPDATE users SET name = NULL WHERE id IN (4, 9, 16)")
        .unwrap();
    let mut runner = db.runner();
    runner.run_to(&RequireName, Phase::Backfill).unwrap();
    let before = snapshot(&mut client);
    let error = runner.run(&RequireName, Phase::Contract).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 3, .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "nn_name: contract refused before any lock-heavy step: expected no NULL in \"users\".\"name\", found 3 \
             offending row(s); for example:\n"
        ),
        "{message}"
    );
    for sample in ["\n  (4,,u4@x)", "\n  (9,,u9@x)", "\n  (16,,u16@x)"] {
        assert!(message.contains(sample), "{message}");
    }
    assert_eq!(snapshot(&mut client), before, "no VALIDATE, no SET NOT NULL");
    assert!(!checks(&mut client)[0].1);
    // Refused before any change, the contract leaves no trace in the state either: the
    // migration stands where backfill left it.
    let state = runner.state(&RequireName).unwrap();
    assert_eq!(
        (state.completed, state.running, state.error),
        (Some(Phase::Backfill), None, None)
    );
    // Filled by hand, the contract runs.
    client
        .batch_execute("UPDATE users SET name = 'filled' WHERE name IS NULL")
        .unwrap();
    runner.run(&RequireName, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "name").unwrap().not_null);
}

#[test]
fn drift_is_refused_and_nothing_changes() {
    let refused = |name: &str, migration: &dyn Migration, setup: &str| -> String {
        let db = TestDb::new(&format!("add_not_null_drift_{name}"));
        let mut client = users(&db, 10);
        client.batch_execute(setup).unwrap();
        let mut runner = db.runner();
        let before = snapshot(&mut client);
        let error = runner.run(migration, Phase::Expand).unwrap_err();
        assert!(matches!(error, Error::Drift { .. }), "{error}");
        assert_eq!(snapshot(&mut client), before, "{name}");
        error.to_string()
    };
    assert_eq!(
        refused("not_null", &RequireName, "ALTER TABLE users ALTER COLUMN name SET NOT NULL"),
        "nn_name: the database does not match the declaration: expected a nullable column \"users\".\"name\", \
         found it is already NOT NULL; nothing was changed"
    );
    assert!(
        refused("no_column", &RequireEmail, "ALTER TABLE users DROP COLUMN email")
            .contains("expected a nullable column \"users\".\"email\", found no such column")
    );
    assert!(refused(
        "check_there",
        &RequireName,
        "ALTER TABLE users ADD CONSTRAINT zdm_users_name_nn CHECK (name <> '')"
    )
    .contains("expected no constraint \"zdm_users_name_nn\" on \"users\", found one already there: CHECK ((name <> ''::text))"));
    let db = TestDb::new("add_not_null_drift_no_table");
    let error = db.runner().run(&RequireEmail, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected table \"users\", found no such table"),
        "{error}"
    );
}
