//! `add_unique` and `add_primary_key` end to end against a real PostgreSQL: duplicates and
//! nullable key columns refused before any change, the concurrent build (an INVALID leftover
//! rebuilt), the constraint attached without a scan, each reversal, and old and new versions
//! writing with prepared statements while the phases run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Phase};
use zdm_suite::{assert_revert_restores, constraints, run_phases_under_load, TestDb, Writer};

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

/// The constraints on `accounts` but NOT NULL, which PostgreSQL 18 lists as constraints too.
fn account_constraints(client: &mut Client) -> Vec<(String, String, bool, String)> {
    constraints(client, "accounts")
        .into_iter()
        .filter(|(_, kind, ..)| kind != "n")
        .collect()
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
