//! The catalog operations end to end against a real PostgreSQL: `drop_index`,
//! `drop_constraint`, `rename_index`, `rename_constraint`, `drop_not_null`, `set_default`,
//! `drop_default` and `set_replica_identity`. For each: the catalog after the phase that changes it, the
//! refusal of a database that does not match, every phase reverted (catalog, contents and
//! replica identity as before), old and new versions writing through named prepared
//! statements while every phase runs, and names built to break badly quoted SQL.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use postgres::error::SqlState;
use postgres::{Client, Statement};
use zdm_runtime::{zero_downtime, Error, Migration, Phase};
use zdm_suite::{
    assert_revert_restores_with, column, constraints, contents, indexes, run_phases_under_load, scalar,
    table_catalog, TestDb, Writer,
};

#[zero_downtime(
    id = "cat_rename_index",
    rename_index(table = "accounts", from = "accounts_email_idx", to = "accounts_by_email")
)]
struct RenameIndex;

#[zero_downtime(
    id = "cat_rename_constraint",
    rename_constraint(
        table = "accounts",
        from = "accounts_score_check",
        to = "accounts_score_not_negative"
    )
)]
struct RenameConstraint;

#[zero_downtime(id = "cat_drop_not_null", drop_not_null(table = "accounts", column = "email"))]
struct DropNotNull;

#[zero_downtime(
    id = "cat_set_default",
    set_default(table = "accounts", column = "score", default = "10")
)]
struct SetDefault;

#[zero_downtime(id = "cat_drop_default", drop_default(table = "accounts", column = "status"))]
struct DropDefault;

#[zero_downtime(
    id = "cat_replica_full",
    set_replica_identity(table = "accounts", identity = "full")
)]
struct ReplicaFull;

#[zero_downtime(
    id = "cat_replica_index",
    set_replica_identity(table = "accounts", index = "accounts_code_key")
)]
struct ReplicaIndex;

#[zero_downtime(
    id = "cat_drop_index",
    drop_index(table = "accounts", index = "accounts_email_idx")
)]
struct DropIndex;

#[zero_downtime(
    id = "cat_drop_index_pkey",
    drop_index(table = "accounts", index = "accounts_pkey")
)]
struct DropIndexOfKey;

#[zero_downtime(
    id = "cat_drop_check",
    drop_constraint(table = "accounts", constraint = "accounts_score_check")
)]
struct DropCheck;

#[zero_downtime(
    id = "cat_drop_foreign_key",
    drop_constraint(table = "accounts", constraint = "accounts_team_id_fkey")
)]
struct DropForeignKey;

#[zero_downtime(
    id = "cat_drop_unique",
    drop_constraint(table = "accounts", constraint = "accounts_email_key")
)]
struct DropUnique;

#[zero_downtime(
    id = "cat_drop_primary_key",
    drop_constraint(table = "accounts", constraint = "accounts_pkey")
)]
struct DropPrimaryKey;

const ROWS: i64 = 300;

/// `accounts`: a plain index, a unique one, a CHECK, a NOT NULL column and two defaults.
fn accounts(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE teams (id bigint PRIMARY KEY);
             INSERT INTO teams SELECT generate_series(1, 3);
             CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL CONSTRAINT accounts_email_key UNIQUE,
                 status text NOT NULL DEFAULT 'new', score int DEFAULT 0 CONSTRAINT accounts_score_check CHECK (score >= 0),
                 code text NOT NULL, team_id bigint REFERENCES teams);
             CREATE INDEX accounts_email_idx ON accounts (email);
             CREATE UNIQUE INDEX accounts_code_key ON accounts (code);
             INSERT INTO accounts SELECT g, 'a' || g || '@x', 'old', g % 5, 'c' || g, g % 3 + 1 FROM generate_series(1, {ROWS}) g;"
        ))
        .unwrap();
    client
}

/// `relreplident` and the replica identity index of `accounts`.
fn replica_identity(client: &mut Client) -> (String, Option<String>) {
    let row = client
        .query_one(
            "SELECT c.relreplident::text, (SELECT i.indexrelid::regclass::text FROM pg_index i \
             WHERE i.indrelid = c.oid AND i.indisreplident) FROM pg_class c WHERE c.oid = 'accounts'::regclass",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn default_of(client: &mut Client, name: &str) -> Option<String> {
    column(client, "accounts", name).unwrap().default
}

/// What a reversal must give back.
fn snapshot(client: &mut Client) -> (Vec<String>, String, (String, Option<String>)) {
    (
        table_catalog(client, "accounts"),
        contents(client, "accounts"),
        replica_identity(client),
    )
}

/// Reverts each phase of `migration` in turn, each in a database of its own.
fn every_phase_reverts(test: &str, migration: &dyn Migration) {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("{test}_{phase}"));
        accounts(&db);
        assert_revert_restores_with(&db, migration, phase, snapshot);
    }
}

#[test]
fn drop_index_drops_concurrently_at_contract_and_its_reversal_rebuilds_it() {
    let db = TestDb::new("cat_drop_index");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    let before = indexes(&mut client, "accounts");
    runner.run_to(&DropIndex, Phase::Backfill).unwrap();
    assert_eq!(
        indexes(&mut client, "accounts"),
        before,
        "the old version keeps the index until contract"
    );
    runner.run(&DropIndex, Phase::Contract).unwrap();
    assert!(indexes(&mut client, "accounts")
        .iter()
        .all(|(name, ..)| name != "accounts_email_idx"));
    // A failed build under the same name leaves an INVALID index, which the rebuild drops
    // first.
    let failed = client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_email_idx ON accounts (status)")
        .unwrap_err();
    assert_eq!(failed.code(), Some(&SqlState::UNIQUE_VIOLATION));
    runner.revert(&DropIndex, Phase::Contract).unwrap();
    assert_eq!(indexes(&mut client, "accounts"), before);
    every_phase_reverts("cat_drop_index_revert", &DropIndex);
}

#[test]
fn drop_index_refuses_the_index_of_a_constraint_naming_it() {
    let db = TestDb::new("cat_drop_index_refused");
    accounts(&db);
    let error = db.runner().run(&DropIndexOfKey, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cat_drop_index_pkey: expand refused before any lock-heavy step: expected \"accounts_pkey\" backs no constraint, \
         found 1 offending row(s); for example:\n  constraint accounts_pkey of accounts uses it"
    );
}

#[test]
fn drop_index_refuses_the_replica_identity_index() {
    let db = TestDb::new("cat_drop_index_replica_identity");
    let mut client = accounts(&db);
    client
        .batch_execute(
            "DROP INDEX accounts_email_idx; CREATE UNIQUE INDEX accounts_email_idx ON accounts (email);
                        ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_email_idx",
        )
        .unwrap();
    let error = db.runner().run(&DropIndex, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("for example:\n  the replica identity of accounts"),
        "{error}"
    );
}

/// Runs `migration` to contract, checks `constraint` is gone, reverts the contract and
/// checks the catalog is what it was, then reverts each phase in turn.
fn drop_constraint_and_revert(test: &str, migration: &dyn Migration, constraint: &str) {
    let db = TestDb::new(test);
    let mut client = accounts(&db);
    let mut runner = db.runner();
    let before = snapshot(&mut client);
    runner.run_to(migration, Phase::Backfill).unwrap();
    assert_eq!(
        snapshot(&mut client),
        before,
        "the constraint holds until contract"
    );
    runner.run(migration, Phase::Contract).unwrap();
    assert!(constraints(&mut client, "accounts")
        .iter()
        .all(|(name, ..)| name != constraint));
    runner.revert(migration, Phase::Contract).unwrap();
    assert_eq!(snapshot(&mut client), before, "{constraint} is back, validated");
    every_phase_reverts(&format!("{test}_revert"), migration);
}

#[test]
fn drop_constraint_drops_a_check_and_its_reversal_re_adds_and_validates_it() {
    drop_constraint_and_revert("cat_drop_check", &DropCheck, "accounts_score_check");
}

#[test]
fn drop_constraint_drops_a_foreign_key_and_its_reversal_re_adds_and_validates_it() {
    drop_constraint_and_revert("cat_drop_foreign_key", &DropForeignKey, "accounts_team_id_fkey");
}

#[test]
fn drop_constraint_drops_a_unique_constraint_and_its_reversal_rebuilds_it_over_a_concurrent_index() {
    drop_constraint_and_revert("cat_drop_unique", &DropUnique, "accounts_email_key");
    drop_constraint_and_revert("cat_drop_primary_key", &DropPrimaryKey, "accounts_pkey");
}

#[test]
fn drop_constraint_refuses_a_key_a_foreign_key_references() {
    let db = TestDb::new("cat_drop_constraint_refused");
    let mut client = accounts(&db);
    client
        .batch_execute("CREATE TABLE notes (account_id bigint CONSTRAINT notes_account REFERENCES accounts)")
        .unwrap();
    let error = db.runner().run(&DropPrimaryKey, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cat_drop_primary_key: expand refused before any lock-heavy step: expected \"accounts\" has a constraint \
         \"accounts_pkey\" zdm can re-add on reversal, found 1 offending row(s); for example:\n  \
         constraint notes_account of notes references it"
    );
}

#[test]
fn drop_constraint_refuses_what_it_could_not_re_add_as_it_was() {
    for (kind, definition, found) in [
        (
            "deferrable",
            "UNIQUE (email) DEFERRABLE",
            "a deferrable constraint",
        ),
        (
            "exclude",
            "EXCLUDE USING btree (email WITH =)",
            "a constraint of kind x",
        ),
    ] {
        let db = TestDb::new(&format!("cat_drop_constraint_{kind}"));
        let mut client = accounts(&db);
        client
            .batch_execute(&format!(
                "ALTER TABLE accounts DROP CONSTRAINT accounts_email_key, ADD CONSTRAINT accounts_email_key {definition}"
            ))
            .unwrap();
        let before = snapshot(&mut client);
        let error = db.runner().run(&DropUnique, Phase::Expand).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cat_drop_unique: expand refused before any lock-heavy step: expected \"accounts\" has a constraint \
                 \"accounts_email_key\" zdm can re-add on reversal, found 1 offending row(s); for example:\n  {found}"
            )
        );
        assert_eq!(snapshot(&mut client), before);
    }
    let db = TestDb::new("cat_drop_constraint_inherited");
    let mut client = accounts(&db);
    client
        .batch_execute(
            "ALTER TABLE accounts RENAME TO parent; ALTER TABLE parent ALTER COLUMN email DROP NOT NULL;
             CREATE TABLE accounts (id bigint PRIMARY KEY) INHERITS (parent);",
        )
        .unwrap();
    let error = db.runner().run(&DropCheck, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("for example:\n  an inherited constraint"),
        "{error}"
    );
}

#[test]
fn rename_index_renames_at_contract_and_back() {
    let db = TestDb::new("cat_rename_index");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    let names = |client: &mut Client| -> Vec<String> {
        indexes(client, "accounts")
            .into_iter()
            .map(|(name, ..)| name)
            .collect()
    };
    runner.run_to(&RenameIndex, Phase::Backfill).unwrap();
    assert!(
        names(&mut client).contains(&"accounts_email_idx".to_owned()),
        "the old version keeps the name until contract"
    );
    runner.run(&RenameIndex, Phase::Contract).unwrap();
    assert_eq!(
        names(&mut client),
        [
            "accounts_by_email",
            "accounts_code_key",
            "accounts_email_key",
            "accounts_pkey"
        ]
    );
    runner.revert(&RenameIndex, Phase::Contract).unwrap();
    assert_eq!(
        names(&mut client),
        [
            "accounts_code_key",
            "accounts_email_idx",
            "accounts_email_key",
            "accounts_pkey"
        ]
    );
    every_phase_reverts("cat_rename_index_revert", &RenameIndex);
}

#[test]
fn rename_index_refuses_a_missing_index_and_a_taken_name_before_any_change() {
    let db = TestDb::new("cat_rename_index_refused");
    let mut client = accounts(&db);
    client.batch_execute("CREATE TABLE accounts_by_email ()").unwrap();
    let error = db.runner().run(&RenameIndex, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cat_rename_index: expand refused before any lock-heavy step: expected no relation named \"accounts_by_email\", \
         found 1 offending row(s); for example:\n  a relation accounts_by_email exists"
    );
    client
        .batch_execute("DROP TABLE accounts_by_email; DROP INDEX accounts_email_idx")
        .unwrap();
    let error = db.runner().run(&RenameIndex, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cat_rename_index: expand refused before any lock-heavy step: expected \"accounts_email_idx\" is an index of \
         \"accounts\", found 1 offending row(s); for example:\n  no relation of that name"
    );
}

#[test]
fn rename_constraint_renames_at_contract_and_back() {
    let db = TestDb::new("cat_rename_constraint");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    let checks = |client: &mut Client| -> Vec<String> {
        constraints(client, "accounts")
            .into_iter()
            .filter(|(_, kind, ..)| kind == "c")
            .map(|(name, ..)| name)
            .collect()
    };
    runner.run_to(&RenameConstraint, Phase::Backfill).unwrap();
    assert_eq!(checks(&mut client), ["accounts_score_check"]);
    runner.run(&RenameConstraint, Phase::Contract).unwrap();
    assert_eq!(checks(&mut client), ["accounts_score_not_negative"]);
    let refused = client
        .execute("UPDATE accounts SET score = -1 WHERE id = 1", &[])
        .unwrap_err();
    assert_eq!(refused.code(), Some(&SqlState::CHECK_VIOLATION));
    runner.revert(&RenameConstraint, Phase::Contract).unwrap();
    assert_eq!(checks(&mut client), ["accounts_score_check"]);
    every_phase_reverts("cat_rename_constraint_revert", &RenameConstraint);
}

#[test]
fn drop_not_null_allows_nulls_from_expand_and_its_reversal_refuses_while_nulls_remain() {
    let db = TestDb::new("cat_drop_not_null");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    runner.run(&DropNotNull, Phase::Expand).unwrap();
    assert!(!column(&mut client, "accounts", "email").unwrap().not_null);
    client
        .batch_execute("UPDATE accounts SET email = NULL WHERE id IN (3, 4)")
        .unwrap();
    let error = runner.revert(&DropNotNull, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{error}");
    assert!(
        !column(&mut client, "accounts", "email").unwrap().not_null,
        "the refusal changed nothing"
    );
    client
        .batch_execute("UPDATE accounts SET email = 'back' || id WHERE email IS NULL")
        .unwrap();
    runner.revert(&DropNotNull, Phase::Expand).unwrap();
    assert!(column(&mut client, "accounts", "email").unwrap().not_null);
    assert!(
        constraints(&mut client, "accounts")
            .iter()
            .all(|(name, ..)| !name.starts_with("zdm_")),
        "the stand-in check is gone"
    );
    every_phase_reverts("cat_drop_not_null_revert", &DropNotNull);
}

#[test]
fn set_default_sets_at_expand_and_its_reversal_restores_the_recorded_default() {
    let db = TestDb::new("cat_set_default");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    runner.run(&SetDefault, Phase::Expand).unwrap();
    assert_eq!(default_of(&mut client, "score").as_deref(), Some("10"));
    assert_eq!(
        scalar::<Option<String>>(
            &mut client,
            "SELECT definition FROM zdm.cat_set_default_catalog WHERE item = 'default'"
        ),
        Some("0".to_owned())
    );
    runner.run_to(&SetDefault, Phase::Contract).unwrap();
    assert_eq!(default_of(&mut client, "score").as_deref(), Some("10"));
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SetDefault, phase).unwrap();
    }
    assert_eq!(default_of(&mut client, "score").as_deref(), Some("0"));
    assert!(scalar::<Option<String>>(
        &mut client,
        "SELECT to_regclass('zdm.cat_set_default_catalog')::text"
    )
    .is_none());
    // A column without a default gets none back.
    client
        .batch_execute("ALTER TABLE accounts ALTER COLUMN score DROP DEFAULT")
        .unwrap();
    runner.run(&SetDefault, Phase::Expand).unwrap();
    runner.revert(&SetDefault, Phase::Expand).unwrap();
    assert_eq!(default_of(&mut client, "score"), None);
    every_phase_reverts("cat_set_default_revert", &SetDefault);
}

#[test]
fn drop_default_drops_at_contract_and_its_reversal_restores_the_recorded_default() {
    let db = TestDb::new("cat_drop_default");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    runner.run_to(&DropDefault, Phase::Backfill).unwrap();
    assert_eq!(default_of(&mut client, "status").as_deref(), Some("'new'::text"));
    runner.run(&DropDefault, Phase::Contract).unwrap();
    assert_eq!(default_of(&mut client, "status"), None);
    runner.revert(&DropDefault, Phase::Contract).unwrap();
    assert_eq!(default_of(&mut client, "status").as_deref(), Some("'new'::text"));
    every_phase_reverts("cat_drop_default_revert", &DropDefault);

    let db = TestDb::new("cat_drop_default_none");
    let mut client = accounts(&db);
    client
        .batch_execute("ALTER TABLE accounts ALTER COLUMN status DROP DEFAULT")
        .unwrap();
    let error = db.runner().run(&DropDefault, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cat_drop_default: expand refused before any lock-heavy step: expected \"accounts\".\"status\" has a default, \
         found 1 offending row(s); for example:\n  it has none"
    );
}

#[test]
fn set_replica_identity_records_the_old_setting_and_restores_it() {
    let db = TestDb::new("cat_replica_identity");
    let mut client = accounts(&db);
    let mut runner = db.runner();
    runner.run(&ReplicaFull, Phase::Expand).unwrap();
    assert_eq!(replica_identity(&mut client), ("f".to_owned(), None));
    runner.revert(&ReplicaFull, Phase::Expand).unwrap();
    assert_eq!(replica_identity(&mut client), ("d".to_owned(), None));
    runner.run(&ReplicaIndex, Phase::Expand).unwrap();
    assert_eq!(
        replica_identity(&mut client),
        ("i".to_owned(), Some("accounts_code_key".to_owned()))
    );
    // From an index back to FULL and back to the index.
    runner.run(&ReplicaFull, Phase::Expand).unwrap();
    runner.revert(&ReplicaFull, Phase::Expand).unwrap();
    assert_eq!(
        replica_identity(&mut client),
        ("i".to_owned(), Some("accounts_code_key".to_owned()))
    );
    every_phase_reverts("cat_replica_full_revert", &ReplicaFull);
    every_phase_reverts("cat_replica_index_revert", &ReplicaIndex);
}

thread_local! {
    /// Each writer thread's named prepared statements, prepared once and reused in every
    /// phase, as an application's statement cache would.
    static PREPARED: RefCell<HashMap<&'static str, Statement>> = RefCell::new(HashMap::new());
}

fn prepared(client: &mut Client, sql: &'static str) -> Statement {
    PREPARED.with(|cache| {
        cache
            .borrow_mut()
            .entry(sql)
            .or_insert_with(|| client.prepare(sql).unwrap())
            .clone()
    })
}

/// What the new version writes where the old version writes nothing.
struct NewVersion {
    /// Writes NULL emails (after `drop_not_null`).
    null_email: bool,
    /// The score its inserts, which leave it out, get.
    score: i32,
}

/// The old version (expand to backfill) inserts leaving status and score to their
/// defaults, updates, and meets the CHECK; the new version (sync to contract) inserts with
/// a status, leaving score to its default. Every write succeeds and every row is as meant.
fn mixed_versions(test: &str, migration: &'static dyn Migration, new: NewVersion) {
    let db = TestDb::new(test);
    accounts(&db);
    let written: Arc<Mutex<Vec<(i64, Phase)>>> = Arc::default();
    let record = Arc::clone(&written);
    let old = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, phase, n| {
            let id = 10_000 + n;
            let insert = prepared(
                client,
                "INSERT INTO accounts (id, email, code) VALUES ($1, $2, $3)",
            );
            client
                .execute(&insert, &[&id, &format!("old{n}@x"), &format!("old{n}")])
                .unwrap();
            let update = prepared(client, "UPDATE accounts SET score = score + 1 WHERE id = $1");
            client.execute(&update, &[&(n % ROWS + 1)]).unwrap();
            let negative = prepared(client, "UPDATE accounts SET score = -1 WHERE id = $1");
            let refused = client.execute(&negative, &[&(n % ROWS + 1)]).unwrap_err();
            assert_eq!(refused.code(), Some(&SqlState::CHECK_VIOLATION));
            record.lock().unwrap().push((id, phase));
        },
    );
    let record = Arc::clone(&written);
    let null_email = new.null_email;
    let new_writer = Writer::new(
        "new version",
        Phase::Sync..=Phase::Contract,
        move |client, phase, n| {
            let id = 1_000_000 + n;
            let insert = prepared(
                client,
                "INSERT INTO accounts (id, email, status, code) VALUES ($1, $2, 'active', $3)",
            );
            let email = (!null_email).then(|| format!("new{n}@x"));
            client
                .execute(&insert, &[&id, &email, &format!("new{n}")])
                .unwrap();
            record.lock().unwrap().push((id, phase));
        },
    );
    run_phases_under_load(&db, migration, vec![old, new_writer]);
    let mut client = db.connect();
    let written = written.lock().unwrap();
    assert!(written.iter().any(|(id, _)| *id < 1_000_000) && written.iter().any(|(id, _)| *id >= 1_000_000));
    for (id, phase) in written.iter() {
        let row = client
            .query_one("SELECT status, score, email FROM accounts WHERE id = $1", &[id])
            .unwrap();
        let (status, score, email): (String, i32, Option<String>) = (row.get(0), row.get(1), row.get(2));
        if *id >= 1_000_000 {
            assert_eq!(
                (status.as_str(), score, email.is_none()),
                ("active", new.score, null_email),
                "row {id}"
            );
        } else {
            assert_eq!(
                status, "new",
                "row {id}: the old version's insert got the default"
            );
            // Expand may set the default while the old version writes.
            let scores = if *phase == Phase::Expand {
                [0, new.score]
            } else {
                [new.score; 2]
            };
            assert!(scores.contains(&score), "row {id}: score {score}");
        }
    }
}

#[test]
fn mixed_versions_write_through_every_catalog_operation() {
    let plain = || NewVersion {
        null_email: false,
        score: 0,
    };
    mixed_versions("cat_mixed_rename_index", &RenameIndex, plain());
    mixed_versions("cat_mixed_rename_constraint", &RenameConstraint, plain());
    mixed_versions("cat_mixed_drop_default", &DropDefault, plain());
    mixed_versions("cat_mixed_replica_index", &ReplicaIndex, plain());
    mixed_versions("cat_mixed_replica_full", &ReplicaFull, plain());
    mixed_versions("cat_mixed_drop_index", &DropIndex, plain());
    mixed_versions("cat_mixed_drop_check", &DropCheck, plain());
    mixed_versions("cat_mixed_drop_unique", &DropUnique, plain());
    mixed_versions("cat_mixed_drop_foreign_key", &DropForeignKey, plain());
    mixed_versions(
        "cat_mixed_drop_not_null",
        &DropNotNull,
        NewVersion {
            null_email: true,
            score: 0,
        },
    );
    mixed_versions(
        "cat_mixed_set_default",
        &SetDefault,
        NewVersion {
            null_email: false,
            score: 10,
        },
    );
}

// Names built to break badly quoted SQL: quotes that would end an identifier or a literal
// and run the rest as a statement dropping the sentinel table `x`, and the text zdm gives a
// meaning in the SQL it composes (`$zdm$`, `{state}`, `{range}`, `{key}`).

const HOSTILE: &str = "Order \"Items\"; DROP TABLE x";

#[zero_downtime(
    id = "hostile_drop_index",
    drop_index(table = "Order \"Items\"; DROP TABLE x", index = "idx $zdm$ {state}")
)]
struct HostileDropIndex;

#[zero_downtime(
    id = "hostile_rename_index",
    rename_index(
        table = "Order \"Items\"; DROP TABLE x",
        from = "idx $zdm$ {state}",
        to = "renamed \"idx\"; DROP TABLE x"
    )
)]
struct HostileRenameIndex;

#[zero_downtime(
    id = "hostile_drop_check",
    drop_constraint(
        table = "Order \"Items\"; DROP TABLE x",
        constraint = "chk \"x\"'; DROP TABLE x"
    )
)]
struct HostileDropCheck;

#[zero_downtime(
    id = "hostile_drop_unique",
    drop_constraint(table = "Order \"Items\"; DROP TABLE x", constraint = "uniq 'x' {range}")
)]
struct HostileDropUnique;

#[zero_downtime(
    id = "hostile_drop_foreign_key",
    drop_constraint(table = "Order \"Items\"; DROP TABLE x", constraint = "fk {state}")
)]
struct HostileDropForeignKey;

#[zero_downtime(
    id = "hostile_rename_constraint",
    rename_constraint(
        table = "Order \"Items\"; DROP TABLE x",
        from = "chk \"x\"'; DROP TABLE x",
        to = "chk {key}'; DROP TABLE x"
    )
)]
struct HostileRenameConstraint;

#[zero_downtime(
    id = "hostile_drop_not_null",
    drop_not_null(table = "Order \"Items\"; DROP TABLE x", column = "it's")
)]
struct HostileDropNotNull;

#[zero_downtime(
    id = "hostile_set_default",
    set_default(
        table = "Order \"Items\"; DROP TABLE x",
        column = "it's",
        default = "'it''s $zdm$ {state}''; DROP TABLE x'"
    )
)]
struct HostileSetDefault;

#[zero_downtime(
    id = "hostile_drop_default",
    drop_default(table = "Order \"Items\"; DROP TABLE x", column = "it's")
)]
struct HostileDropDefault;

#[zero_downtime(
    id = "hostile_replica_identity",
    set_replica_identity(table = "Order \"Items\"; DROP TABLE x", index = "uniq 'x' {range}")
)]
struct HostileReplicaIdentity;

fn hostile_table(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            r#"CREATE TABLE x (id int PRIMARY KEY); INSERT INTO x VALUES (1);
               CREATE TABLE "Team ""{range}""" ("ID" bigint PRIMARY KEY);
               INSERT INTO "Team ""{range}""" SELECT generate_series(1, 3);
               CREATE TABLE "Order ""Items""; DROP TABLE x" (
                   "ID" bigint PRIMARY KEY,
                   "it's" text NOT NULL DEFAULT 'it''s',
                   "select" int CONSTRAINT "chk ""x""'; DROP TABLE x" CHECK ("select" >= 0),
                   "$zdm$" text NOT NULL CONSTRAINT "uniq 'x' {range}" UNIQUE,
                   "team" bigint CONSTRAINT "fk {state}" REFERENCES "Team ""{range}""");
               CREATE INDEX "idx $zdm$ {state}" ON "Order ""Items""; DROP TABLE x" ("it's");
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'v' || g, g, 'k' || g, g % 3 + 1
               FROM generate_series(1, 200) g;"#,
        )
        .unwrap();
    client
}

fn hostile_snapshot(client: &mut Client) -> (Vec<String>, String, String, i64) {
    let replica: String = scalar(
        client,
        r#"SELECT relreplident::text FROM pg_class WHERE oid = '"Order ""Items""; DROP TABLE x"'::regclass"#,
    );
    let sentinel: i64 = scalar(
        client,
        "SELECT CASE WHEN to_regclass('public.x') IS NULL THEN 0 ELSE (SELECT count(*) FROM public.x) END",
    );
    (
        table_catalog(client, HOSTILE),
        contents(client, HOSTILE),
        replica,
        sentinel,
    )
}

#[test]
fn every_catalog_operation_runs_and_reverts_over_hostile_names() {
    let migrations: [&dyn Migration; 10] = [
        &HostileDropIndex,
        &HostileRenameIndex,
        &HostileDropCheck,
        &HostileDropUnique,
        &HostileDropForeignKey,
        &HostileRenameConstraint,
        &HostileDropNotNull,
        &HostileSetDefault,
        &HostileDropDefault,
        &HostileReplicaIdentity,
    ];
    for migration in migrations {
        let db = TestDb::new(migration.id());
        let mut client = hostile_table(&db);
        let before = hostile_snapshot(&mut client);
        let mut runner = db.runner();
        runner.run_to(migration, Phase::Contract).unwrap();
        let after = hostile_snapshot(&mut client);
        assert_eq!(after.3, 1, "{}: the sentinel table x is intact", migration.id());
        assert_ne!(after, before, "{} changed the table", migration.id());
        for phase in Phase::ALL.into_iter().rev() {
            runner.revert(migration, phase).unwrap();
        }
        assert_eq!(
            hostile_snapshot(&mut client),
            before,
            "{} reverted",
            migration.id()
        );
    }
}
