//! `add_column` end to end against a real PostgreSQL: the catalog after every phase, each
//! reversal restoring the table exactly, and writes of the old version during the
//! transition getting the value.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase};
use zdm_suite::assert_revert_restores;
use zdm_suite::{
    checksum, column, constraints, indexes, run_phases_under_load, scalar, triggers, TestDb, Writer,
};

/// Users get a lower-cased copy of their email, indexed and required.
#[zero_downtime(
    id = "add_email_lower",
    add_column(
        table = "users",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
struct AddEmailLower;

#[zero_downtime(
    id = "add_verified",
    add_column(
        table = "users",
        column = "verified",
        ty = "boolean",
        default = "false",
        not_null
    )
)]
struct AddVerified;

#[zero_downtime(
    id = "add_token",
    add_column(
        table = "users",
        column = "token",
        ty = "uuid",
        default = "gen_random_uuid()",
        not_null
    )
)]
struct AddToken;

fn users(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text);
             INSERT INTO users SELECT g, 'User' || g || '@Example.COM', 'name ' || g FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("add_column_full_cycle");
    let mut client = users(&db, 1_000);
    let mut runner = db.runner();

    runner.run(&AddEmailLower, Phase::Expand).unwrap();
    let added = column(&mut client, "users", "email_lower").expect("column added");
    assert_eq!(
        (added.ty.as_str(), added.not_null, added.default),
        ("text", false, None)
    );
    let index = indexes(&mut client, "users")
        .into_iter()
        .find(|(name, ..)| name == "users_email_lower_idx");
    assert_eq!(
        index.map(|(_, valid, definition)| (valid, definition)),
        Some((
            true,
            "CREATE INDEX users_email_lower_idx ON public.users USING btree (email_lower)".to_owned()
        ))
    );
    assert!(triggers(&mut client, "users").is_empty());

    runner.run(&AddEmailLower, Phase::Sync).unwrap();
    assert_eq!(
        triggers(&mut client, "users"),
        ["zdm_sync_users_email_lower", "zdm_sync_users_email_lower_insert"]
    );
    // The old version inserts without the column: the trigger fills it.
    client
        .execute(
            "INSERT INTO users (id, email) VALUES (5000, 'New@Example.COM')",
            &[],
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email_lower FROM users WHERE id = 5000"),
        "new@example.com"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE email_lower IS NULL"
        ),
        1_000
    );

    let report = runner.run(&AddEmailLower, Phase::Backfill).unwrap();
    assert_eq!(report.steps[0].rows, 1_000, "backfill writes each NULL row once");
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE email_lower IS DISTINCT FROM lower(email)"
        ),
        0
    );

    runner.run(&AddEmailLower, Phase::Contract).unwrap();
    let contracted = column(&mut client, "users", "email_lower").unwrap();
    assert!(contracted.not_null);
    assert!(triggers(&mut client, "users").is_empty(), "sync trigger dropped");
    assert!(
        constraints(&mut client, "users")
            .iter()
            .all(|(_, kind, ..)| kind != "c"),
        "the stand-in CHECK constraint is gone"
    );
    let state = runner.state(&AddEmailLower).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Contract), None));
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT completed FROM zdm.migrations WHERE id = 'add_email_lower'"
        ),
        "contract"
    );
}

#[test]
fn each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [
            ("lower", &AddEmailLower as &dyn zdm_runtime::Migration),
            ("token", &AddToken),
            ("verified", &AddVerified),
        ] {
            let db = TestDb::new(&format!("add_column_revert_{name}_{phase}"));
            users(&db, 600);
            assert_revert_restores(&db, migration, phase, "users");
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    let db = TestDb::new("add_column_revert_all");
    let mut client = users(&db, 300);
    let before = checksum(&mut client, "users");
    let mut runner = db.runner();
    runner.run_to(&AddEmailLower, Phase::Contract).unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&AddEmailLower, phase).unwrap();
    }
    assert_eq!(checksum(&mut client, "users"), before);
    assert!(column(&mut client, "users", "email_lower").is_none());
    assert_eq!(runner.state(&AddEmailLower).unwrap().completed, None);
}

#[test]
fn a_constant_default_needs_no_backfill() {
    let db = TestDb::new("add_column_constant_default");
    let mut client = users(&db, 500);
    let mut runner = db.runner();
    runner.run(&AddVerified, Phase::Expand).unwrap();
    let added = column(&mut client, "users", "verified").unwrap();
    assert_eq!(added.default.as_deref(), Some("false"));
    // PostgreSQL 11+ keeps the constant in the catalog instead of rewriting the table.
    assert!(
        scalar::<bool>(
            &mut client,
            "SELECT atthasmissing FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'verified'"
        ),
        "existing rows read the default from the catalog"
    );
    runner.run(&AddVerified, Phase::Sync).unwrap();
    let report = runner.run(&AddVerified, Phase::Backfill).unwrap();
    assert!(report.steps.is_empty(), "no backfill step: {report:?}");
    client
        .execute("INSERT INTO users (id, email) VALUES (9000, 'old@app')", &[])
        .unwrap();
    runner.run(&AddVerified, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "verified").unwrap().not_null);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE verified = false"),
        501
    );
}

#[test]
fn a_volatile_default_is_backfilled_row_by_row() {
    let db = TestDb::new("add_column_volatile_default");
    let mut client = users(&db, 700);
    let mut runner = db.runner();
    runner.run(&AddToken, Phase::Expand).unwrap();
    let added = column(&mut client, "users", "token").unwrap();
    assert_eq!(added.default.as_deref(), Some("gen_random_uuid()"));
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE token IS NULL"),
        700,
        "no rewrite"
    );
    runner.run(&AddToken, Phase::Sync).unwrap();
    client
        .execute("INSERT INTO users (id, email) VALUES (9000, 'old@app')", &[])
        .unwrap();
    let report = runner.run(&AddToken, Phase::Backfill).unwrap();
    assert_eq!(report.steps[0].rows, 700);
    runner.run(&AddToken, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT token) FROM users"),
        701
    );
}

#[test]
fn nulls_left_before_not_null_are_refused_with_samples_and_nothing_changes() {
    let db = TestDb::new("add_column_nulls_refused");
    let mut client = users(&db, 50);
    let mut runner = db.runner();
    runner.run_to(&AddEmailLower, Phase::Backfill).unwrap();
    // The new version writes NULL on purpose, which the trigger respects.
    client
        .batch_execute("UPDATE users SET email_lower = NULL WHERE id IN (7, 8)")
        .unwrap();
    let constraints_before = constraints(&mut client, "users");
    let error = runner.run(&AddEmailLower, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{message}");
    assert!(
        message.contains("no NULL in \"users\".\"email_lower\""),
        "{message}"
    );
    assert!(message.contains("(7,User7@Example.COM,\"name 7\",)"), "{message}");
    assert_eq!(constraints(&mut client, "users"), constraints_before);
    assert!(!column(&mut client, "users", "email_lower").unwrap().not_null);
    // Fixed by hand, the contract resumes.
    client
        .batch_execute("UPDATE users SET email_lower = lower(email) WHERE email_lower IS NULL")
        .unwrap();
    runner.run(&AddEmailLower, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "email_lower").unwrap().not_null);
}

#[test]
fn a_column_already_there_is_drift_and_nothing_changes() {
    let db = TestDb::new("add_column_drift");
    let mut client = users(&db, 10);
    client
        .batch_execute("ALTER TABLE users ADD COLUMN email_lower integer")
        .unwrap();
    let mut runner = db.runner();
    let error = runner.run(&AddEmailLower, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "add_email_lower: the database does not match the declaration: expected no column \"email_lower\" in \
         \"users\", found that column already there, of type integer; nothing was changed"
    );
    assert_eq!(column(&mut client, "users", "email_lower").unwrap().ty, "integer");
    assert_eq!(
        indexes(&mut client, "users")
            .into_iter()
            .map(|(name, ..)| name)
            .collect::<Vec<_>>(),
        ["users_pkey"]
    );

    let db = TestDb::new("add_column_drift_no_table");
    let mut runner = db.runner();
    let error = runner.run(&AddEmailLower, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected table \"users\", found no such table"),
        "{error}"
    );
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("add_column_mixed_versions");
    users(&db, 2_000);
    // The old version knows nothing of email_lower: it inserts without it and changes the
    // email it is computed from. It is gone once contract starts.
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Backfill, |client, _, n| {
        let id = 100_000 + n;
        client
            .execute(
                "INSERT INTO users (id, email) VALUES ($1, 'Old' || $1::bigint || '@X')",
                &[&id],
            )
            .unwrap();
        client
            .execute(
                "UPDATE users SET email = 'Renamed' || id || '@X' WHERE id = $1",
                &[&(n % 2_000 + 1)],
            )
            .unwrap();
        client
            .execute("DELETE FROM users WHERE id = $1", &[&(id - 7)])
            .unwrap();
    });
    // The new version, deployed after sync, writes both columns.
    let new_version = Writer::new("new version", Phase::Sync..=Phase::Contract, |client, _, n| {
        let id = 1_000_000 + n;
        client
            .execute(
                "INSERT INTO users (id, email, email_lower) VALUES ($1, 'New' || $1::bigint || '@X', lower('New' || $1::bigint || '@X'))",
                &[&id],
            )
            .unwrap();
        client
            .execute(
                "UPDATE users SET email = 'Moved' || id || '@X', email_lower = lower('Moved' || id || '@X') WHERE id = $1",
                &[&(n % 2_000 + 1)],
            )
            .unwrap();
    });
    run_phases_under_load(&db, &AddEmailLower, vec![old_version, new_version]);
    let mut client = db.connect();
    assert!(column(&mut client, "users", "email_lower").unwrap().not_null);
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE email LIKE 'Old%'") > 0);
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE email LIKE 'New%'") > 0);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE email_lower IS DISTINCT FROM lower(email)"
        ),
        0,
        "every row, whichever version wrote it, has the value"
    );
}
