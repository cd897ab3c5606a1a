//! `rename_column` end to end against a real PostgreSQL: the catalog after every phase,
//! each reversal restoring the table exactly, writes of the old and the new version during
//! the transition meeting in both columns, and refusals that change nothing.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Options, Phase};
use zdm_suite::{assert_revert_restores, contents, table_catalog};
use zdm_suite::{
    column, constraints, db_error, indexes, run_phases_under_load, scalar, test_options, triggers, TestDb,
    Writer,
};

/// Users' `name` becomes `full_name`, with its collation, default, NOT NULL, CHECK, UNIQUE
/// constraint, indexes (one on an expression, partial) and comment.
#[zero_downtime(
    id = "rename_user_name",
    rename_column(table = "users", from = "name", to = "full_name")
)]
struct RenameName;

/// A column with a foreign key: it is carried NOT VALID, then validated.
#[zero_downtime(
    id = "rename_user_team",
    rename_column(table = "users", from = "team", to = "team_code")
)]
struct RenameTeam;

#[zero_downtime(
    id = "rename_user_id",
    rename_column(table = "users", from = "id", to = "user_id")
)]
struct RenameId;

#[zero_downtime(
    id = "rename_user_email",
    rename_column(table = "users", from = "email", to = "name")
)]
struct RenameEmailOntoName;

const SCHEMA: &str = "
    CREATE TABLE teams (id bigint PRIMARY KEY, code text NOT NULL UNIQUE);
    INSERT INTO teams SELECT g, 'team' || g FROM generate_series(1, 5) g;
    CREATE TABLE users (
        id bigint PRIMARY KEY,
        email text NOT NULL,
        name text COLLATE \"C\" NOT NULL DEFAULT 'anonymous' CONSTRAINT users_name_not_blank CHECK (name <> ''),
        team text REFERENCES teams (code),
        CONSTRAINT users_email_name_key UNIQUE (email, name)
    );
    CREATE INDEX users_name_idx ON users (name);
    CREATE INDEX users_lower_name_idx ON users (lower(name)) WHERE name <> 'anonymous';
    COMMENT ON COLUMN users.name IS 'what the user is called';";

fn users(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client.batch_execute(SCHEMA).unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO users (id, email, name, team)
             SELECT g, 'user' || g || '@example.com', 'Name ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'team' || (g % 5 + 1) END
             FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

fn index_definition(client: &mut Client, name: &str) -> Option<(bool, String)> {
    indexes(client, "users")
        .into_iter()
        .find(|(index, ..)| index == name)
        .map(|(_, valid, definition)| (valid, definition))
}

fn constraint_definition(client: &mut Client, name: &str) -> Option<(bool, String)> {
    constraints(client, "users")
        .into_iter()
        .find(|(constraint, ..)| constraint == name)
        .map(|(_, _, valid, definition)| (valid, definition))
}

fn collation(client: &mut Client, column: &str) -> String {
    scalar(
        client,
        &format!(
            "SELECT (SELECT quote_ident(collname) FROM pg_collation WHERE oid = attcollation) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = '{column}'"
        ),
    )
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("rename_column_full_cycle");
    let mut client = users(&db, 1_000);
    let original = table_catalog(&mut client, "users");
    let mut runner = db.runner();

    let report = runner.run(&RenameName, Phase::Expand).unwrap();
    let note = report.steps[3].note.clone().unwrap();
    assert_eq!(
        note,
        "carries NOT NULL, DEFAULT 'anonymous'::text, index users_lower_name_idx, index users_name_idx, unique \
         constraint users_email_name_key, check constraint users_name_not_blank, the comment"
    );
    let added = column(&mut client, "users", "full_name").expect("column added");
    assert_eq!(
        (added.ty.as_str(), added.not_null, added.default),
        ("text", false, None),
        "nullable, no default while both versions run"
    );
    assert_eq!(collation(&mut client, "full_name"), "\"C\"");
    let mut expected = original.clone();
    expected.push("column full_name text collate \"C\" not null f default  comment ".to_owned());
    expected.sort();
    assert_eq!(
        table_catalog(&mut client, "users"),
        expected,
        "only the column was added"
    );

    runner.run(&RenameName, Phase::Sync).unwrap();
    assert_eq!(triggers(&mut client, "users"), ["zdm_sync_users_name_full_name"]);
    // The old version inserts through `name` only, the new one through `full_name` only.
    client
        .execute(
            "INSERT INTO users (id, email, name) VALUES (5001, 'old@x', 'Old Version')",
            &[],
        )
        .unwrap();
    client
        .execute(
            "INSERT INTO users (id, email, full_name) VALUES (5002, 'new@x', 'New Version')",
            &[],
        )
        .unwrap();
    let both = |client: &mut Client, id: i64| -> (Option<String>, Option<String>) {
        let row = client
            .query_one("SELECT name, full_name FROM users WHERE id = $1", &[&id])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(
        both(&mut client, 5001),
        (Some("Old Version".into()), Some("Old Version".into()))
    );
    assert_eq!(
        both(&mut client, 5002),
        (Some("New Version".into()), Some("New Version".into()))
    );
    client
        .execute("UPDATE users SET name = 'Renamed Old' WHERE id = 1", &[])
        .unwrap();
    client
        .execute("UPDATE users SET full_name = 'Renamed New' WHERE id = 2", &[])
        .unwrap();
    assert_eq!(
        both(&mut client, 1),
        (Some("Renamed Old".into()), Some("Renamed Old".into()))
    );
    assert_eq!(
        both(&mut client, 2),
        (Some("Renamed New".into()), Some("Renamed New".into()))
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE full_name IS NULL"),
        998,
        "rows nobody wrote wait for the backfill"
    );

    let report = runner.run(&RenameName, Phase::Backfill).unwrap();
    assert_eq!(report.steps[0].rows, 998, "each row not yet in step written once");
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE full_name IS DISTINCT FROM name"
        ),
        0
    );
    for (name, definition) in [
        ("zdm_users_name_idx", "CREATE INDEX zdm_users_name_idx ON public.users USING btree (full_name)"),
        (
            "zdm_users_lower_name_idx",
            "CREATE INDEX zdm_users_lower_name_idx ON public.users USING btree (lower(full_name)) WHERE (full_name <> 'anonymous'::text)",
        ),
        (
            "zdm_users_email_name_key",
            "CREATE UNIQUE INDEX zdm_users_email_name_key ON public.users USING btree (email, full_name)",
        ),
    ] {
        assert_eq!(index_definition(&mut client, name), Some((true, definition.to_owned())), "{name}");
    }
    assert_eq!(
        column(&mut client, "users", "full_name").map(|column| column.not_null),
        Some(false),
        "constraints wait for the contract"
    );

    runner.run(&RenameName, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "name").is_none());
    let renamed = column(&mut client, "users", "full_name").unwrap();
    assert_eq!(
        (renamed.ty.as_str(), renamed.not_null, renamed.default.as_deref()),
        ("text", true, Some("'anonymous'::text"))
    );
    assert_eq!(collation(&mut client, "full_name"), "\"C\"");
    assert_eq!(
        scalar::<String>(&mut client, "SELECT col_description('users'::regclass, 3 + 2)"),
        "what the user is called"
    );
    assert!(triggers(&mut client, "users").is_empty());
    // What PostgreSQL's own RENAME COLUMN would give: the same objects, the same names.
    let renamed_in_place = {
        let twin = TestDb::new("rename_column_full_cycle_twin");
        let mut twin_client = users(&twin, 0);
        twin_client
            .batch_execute("ALTER TABLE users RENAME COLUMN name TO full_name")
            .unwrap();
        table_catalog(&mut twin_client, "users")
    };
    assert_eq!(table_catalog(&mut client, "users"), renamed_in_place);
    let state = runner.state(&RenameName).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Contract), None));
}

#[test]
fn each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [("name", &RenameName as &dyn Migration), ("team", &RenameTeam)] {
            let db = TestDb::new(&format!("rename_column_revert_{name}_{phase}"));
            users(&db, 600);
            assert_revert_restores(&db, migration, phase, "users");
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    for (name, migration) in [("name", &RenameName as &dyn Migration), ("team", &RenameTeam)] {
        let db = TestDb::new(&format!("rename_column_revert_all_{name}"));
        let mut client = users(&db, 400);
        let before = (
            contents(&mut client, "users"),
            table_catalog(&mut client, "users"),
        );
        let mut runner = db.runner();
        runner.run_to(migration, Phase::Contract).unwrap();
        for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
            runner.revert(migration, phase).unwrap();
        }
        assert_eq!(
            (
                contents(&mut client, "users"),
                table_catalog(&mut client, "users")
            ),
            before
        );
        assert_eq!(runner.state(migration).unwrap().completed, None);
        assert_eq!(
            scalar::<i64>(&mut client, "SELECT count(*) FROM zdm.carried_columns"),
            0,
            "the record is gone with expand"
        );
    }
}

#[test]
fn reverting_the_contract_keeps_writes_made_after_it() {
    let db = TestDb::new("rename_column_revert_contract_keeps_writes");
    let mut client = users(&db, 300);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Contract).unwrap();
    // The new version writes after the contract; then the contract is reverted.
    client
        .batch_execute(
            "UPDATE users SET full_name = 'After ' || id WHERE id <= 10;
             INSERT INTO users (id, email, full_name) VALUES (9001, 'late@x', 'Late Writer');
             INSERT INTO users (id, email) VALUES (9002, 'default@x');",
        )
        .unwrap();
    runner.revert(&RenameName, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM users WHERE name IS DISTINCT FROM full_name"
        ),
        0,
        "the old column is refilled from the new one"
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT name FROM users WHERE id = 7"),
        "After 7"
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT name FROM users WHERE id = 9001"),
        "Late Writer"
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT name FROM users WHERE id = 9002"),
        "anonymous"
    );
    assert!(column(&mut client, "users", "name").unwrap().not_null);
    assert_eq!(
        constraint_definition(&mut client, "users_email_name_key"),
        Some((true, "UNIQUE (email, name)".to_owned()))
    );
    // Both versions can write again, and the trigger keeps them in step.
    client
        .execute(
            "INSERT INTO users (id, email, name) VALUES (9003, 'old@x', 'Old Again')",
            &[],
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT full_name FROM users WHERE id = 9003"),
        "Old Again"
    );
    runner.run(&RenameName, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT full_name FROM users WHERE id = 9003"),
        "Old Again"
    );
}

#[test]
fn a_foreign_key_is_carried_not_valid_then_validated_under_its_name() {
    let db = TestDb::new("rename_column_foreign_key");
    let mut client = users(&db, 500);
    let mut runner = db.runner();
    runner.run_to(&RenameTeam, Phase::Backfill).unwrap();
    assert_eq!(
        constraint_definition(&mut client, "users_team_fkey"),
        Some((true, "FOREIGN KEY (team) REFERENCES teams(code)".to_owned()))
    );
    assert_eq!(
        constraint_definition(&mut client, "zdm_users_team_fkey"),
        None,
        "not before contract"
    );
    let report = runner.run(&RenameTeam, Phase::Contract).unwrap();
    let steps: Vec<_> = report.steps.iter().map(|step| step.description).collect();
    assert_eq!(
        steps,
        [
            "check that no row has \"team_code\" NULL, if \"team\" was NOT NULL",
            "add the NOT NULL stand-in and the CHECK and FOREIGN KEY constraints on \"team_code\", NOT VALID",
            "validate the constraints on \"team_code\" while reads and writes go on",
            "set \"team_code\" NOT NULL, proven by the valid check, and drop the check",
            "drop the trigger and \"team\"; \"team_code\" takes over its default, comment and object names",
        ]
    );
    assert_eq!(
        constraint_definition(&mut client, "users_team_fkey"),
        Some((true, "FOREIGN KEY (team_code) REFERENCES teams(code)".to_owned()))
    );
    // The carried key is enforced.
    let error = client
        .execute("UPDATE users SET team_code = 'nope' WHERE id = 1", &[])
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().constraint(), Some("users_team_fkey"));
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let db = TestDb::new("rename_column_mixed_versions");
    users(&db, 2_000);
    // What each version wrote last to each row (None: deleted). The old version owns odd
    // ids and the rows it inserts, the new version even ids and its own rows, so the last
    // write each recorded is what the row must hold at the end.
    let written: Arc<Mutex<HashMap<i64, Option<String>>>> = Arc::default();
    let old_log = written.clone();
    // The old version knows only `name`; it runs until contract starts.
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, phase, n| {
            let id = 100_000 + n;
            let name = format!("old insert {n}");
            client
                .execute(
                    "INSERT INTO users (id, email, name) VALUES ($1, 'old@x', $2)",
                    &[&id, &name],
                )
                .unwrap();
            old_log.lock().unwrap().insert(id, Some(name));
            let target = (n * 2 + 1) % 2_000;
            let renamed = format!("old update {n}");
            client
                .execute("UPDATE users SET name = $2 WHERE id = $1", &[&target, &renamed])
                .unwrap();
            old_log.lock().unwrap().insert(target, Some(renamed));
            if n % 5 == 0 {
                client.execute("DELETE FROM users WHERE id = $1", &[&id]).unwrap();
                old_log.lock().unwrap().insert(id, None);
            }
            if phase == Phase::Backfill {
                // Once the trigger is in, a write through either column shows in both.
                let row = client
                    .query_one("SELECT name, full_name FROM users WHERE id = $1", &[&target])
                    .unwrap();
                assert_eq!(row.get::<_, Option<String>>(1), row.get::<_, Option<String>>(0));
            }
        },
    );
    let new_log = written.clone();
    // The new version knows only `full_name`; it is deployed once sync is done.
    let new_version = Writer::new(
        "new version",
        Phase::Backfill..=Phase::Contract,
        move |client, _, n| {
            let id = 1_000_000 + n;
            let name = format!("new insert {n}");
            client
                .execute(
                    "INSERT INTO users (id, email, full_name) VALUES ($1, 'new@x', $2)",
                    &[&id, &name],
                )
                .unwrap();
            let target = (n * 2) % 2_000 + 2;
            let renamed = format!("new update {n}");
            client
                .execute(
                    "UPDATE users SET full_name = $2 WHERE id = $1",
                    &[&target, &renamed],
                )
                .unwrap();
            let mut log = new_log.lock().unwrap();
            log.insert(id, Some(name));
            log.insert(target, Some(renamed));
            if n % 7 == 0 {
                client.execute("DELETE FROM users WHERE id = $1", &[&id]).unwrap();
                log.insert(id, None);
            }
        },
    );
    run_phases_under_load(&db, &RenameName, vec![old_version, new_version]);

    let mut client = db.connect();
    assert!(column(&mut client, "users", "name").is_none());
    let rows: HashMap<i64, String> = client
        .query("SELECT id, full_name FROM users", &[])
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
            assert_eq!(
                rows.get(&id).map(String::as_str),
                Some(format!("Name {id}").as_str()),
                "row {id}"
            );
        }
    }
}

/// The seed's trigger fires `BEFORE UPDATE` only, so a row the old version inserts during
/// the transition has no value in the new column; ours fires on INSERT too.
#[test]
fn an_insert_by_the_old_version_fills_the_new_column_unlike_the_seed() {
    let db = TestDb::new("rename_column_seed_insert");
    let mut client = users(&db, 10);
    // The seed's template, verbatim but for the names.
    client
        .batch_execute(
            "CREATE TABLE seed_users (id bigint PRIMARY KEY, name text, full_name text);
             CREATE FUNCTION sync_column_rename() RETURNS TRIGGER AS $$
             BEGIN
               IF NEW.name IS DISTINCT FROM OLD.name THEN NEW.full_name := NEW.name; END IF;
               IF NEW.full_name IS DISTINCT FROM OLD.full_name THEN NEW.name := NEW.full_name; END IF;
               RETURN NEW;
             END; $$ LANGUAGE plpgsql;
             CREATE TRIGGER sync_column_rename_trigger BEFORE UPDATE ON seed_users
                 FOR EACH ROW EXECUTE FUNCTION sync_column_rename();
             INSERT INTO seed_users (id, name) VALUES (1, 'Old Version');",
        )
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(&mut client, "SELECT full_name FROM seed_users WHERE id = 1"),
        None,
        "the seed loses the old version's insert"
    );
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Sync).unwrap();
    client
        .execute(
            "INSERT INTO users (id, email, name) VALUES (11, 'old@x', 'Old Version')",
            &[],
        )
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(&mut client, "SELECT full_name FROM users WHERE id = 11"),
        Some("Old Version".to_owned())
    );
    // An insert relying on the old column's default gets it in the new column too.
    client
        .execute("INSERT INTO users (id, email) VALUES (12, 'default@x')", &[])
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(&mut client, "SELECT full_name FROM users WHERE id = 12"),
        Some("anonymous".to_owned())
    );
    // Both given and different: the new column wins.
    client
        .execute(
            "INSERT INTO users (id, email, name, full_name) VALUES (13, 'both@x', 'Old Side', 'New Side')",
            &[],
        )
        .unwrap();
    let row = client
        .query_one("SELECT name, full_name FROM users WHERE id = 13", &[])
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("New Side".into(), "New Side".into())
    );
    // Both changed by one UPDATE: the new column wins too.
    client
        .execute(
            "UPDATE users SET name = 'Old Side', full_name = 'New Again' WHERE id = 13",
            &[],
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT name FROM users WHERE id = 13"),
        "New Again"
    );
}

/// The seed's backfill re-scans for `IS NULL` in every batch and commits inside a `DO`
/// block; ours pages by primary key, one transaction per batch, writing each row once.
#[test]
fn the_backfill_writes_each_row_once_in_key_order_batches() {
    let db = TestDb::new("rename_column_backfill_once");
    let rows = 3_000;
    let mut client = users(&db, rows);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Sync).unwrap();
    client
        .batch_execute(
            "CREATE TABLE visits (id bigint NOT NULL, batch bigint NOT NULL);
             CREATE FUNCTION log_visit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.full_name IS DISTINCT FROM OLD.full_name THEN
                 INSERT INTO visits VALUES (NEW.id, txid_current());
               END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER log_visit AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION log_visit();",
        )
        .unwrap();
    let report = runner.run(&RenameName, Phase::Backfill).unwrap();
    assert_eq!(report.steps[0].rows, rows as u64);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM visits"),
        rows,
        "each row once"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        rows
    );
    // Batches of 250 (the test runner's setting), each its own transaction over a key range.
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT batch) FROM visits"),
        rows / 250
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM (SELECT batch, max(id) - min(id) AS span, count(*) AS n FROM visits GROUP BY batch) b \
             WHERE span <> n - 1"
        ),
        0,
        "every batch is one contiguous key range"
    );
}

/// A NULL in the new column when the old one is NOT NULL (here written past the trigger)
/// is refused before any constraint is added, with the rows, and nothing changes.
#[test]
fn nulls_before_not_null_are_refused_with_samples_and_nothing_changes() {
    let db = TestDb::new("rename_column_nulls_refused");
    let mut client = users(&db, 50);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Backfill).unwrap();
    client
        .batch_execute(
            "BEGIN; SET LOCAL zdm.quiet = 'zdm_sync_users_name_full_name';
             UPDATE users SET full_name = NULL WHERE id IN (7, 8); COMMIT;",
        )
        .unwrap();
    let before = table_catalog(&mut client, "users");
    let error = runner.run(&RenameName, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{message}");
    assert!(
        message.starts_with(
            "rename_user_name: contract refused before any lock-heavy step: expected no NULL in \"users\".\"full_name\", \
             which the original column forbade, found 2 offending row(s); for example:"
        ),
        "{message}"
    );
    assert!(
        message.contains("\n  (7,user7@example.com,\"Name 7\",team3,)"),
        "{message}"
    );
    assert_eq!(table_catalog(&mut client, "users"), before);
    // Refused before any change, the contract leaves the migration where backfill left it;
    // once the data is fixed it goes through.
    let state = runner.state(&RenameName).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Backfill), None));
    client
        .batch_execute("UPDATE users SET full_name = name WHERE full_name IS NULL")
        .unwrap();
    runner.run(&RenameName, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "full_name").unwrap().not_null);
}

/// A contract that stops half-way (the carried CHECK fails to validate on a value written
/// past the trigger) is reverted from where it stopped: the constraints it added to the new
/// column go, the old column is untouched.
#[test]
fn a_contract_failing_half_way_reverts_cleanly() {
    let db = TestDb::new("rename_column_contract_half_way");
    let mut client = users(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Backfill).unwrap();
    client
        .batch_execute(
            "BEGIN; SET LOCAL zdm.quiet = 'zdm_sync_users_name_full_name';
             UPDATE users SET full_name = '' WHERE id = 5; COMMIT;",
        )
        .unwrap();
    let before = (
        contents(&mut client, "users"),
        table_catalog(&mut client, "users"),
    );
    let error = runner.run(&RenameName, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "rename_user_name: step \"validate the constraints on \"full_name\" while reads and writes go on\" \
             failed: "
        ),
        "{message}"
    );
    // PostgreSQL's words vary by major (12 does not name the relation); what failed does not.
    let server = db_error(&error).unwrap_or_else(|| panic!("not a server error: {message}"));
    assert_eq!(
        server.code(),
        &postgres::error::SqlState::CHECK_VIOLATION,
        "{message}"
    );
    assert_eq!(server.constraint(), Some("zdm_users_name_not_blank"), "{message}");
    assert_eq!(server.table(), Some("users"), "{message}");
    assert!(
        table_catalog(&mut client, "users")
            .iter()
            .any(|line| line.starts_with("constraint zdm_users_name_not_blank c valid false")),
        "added NOT VALID, not validated"
    );
    runner.revert(&RenameName, Phase::Contract).unwrap();
    assert_eq!(
        (
            contents(&mut client, "users"),
            table_catalog(&mut client, "users")
        ),
        before
    );
    assert_eq!(
        runner.state(&RenameName).unwrap().completed,
        Some(Phase::Backfill)
    );
}

/// An index made on the old column after expand was never carried; dropping the column
/// would drop it silently, so the swap refuses and changes nothing.
#[test]
fn an_index_added_to_the_old_column_after_expand_stops_the_swap() {
    let db = TestDb::new("rename_column_late_index");
    let mut client = users(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Backfill).unwrap();
    client
        .batch_execute("CREATE INDEX users_name_upper_idx ON users (upper(name))")
        .unwrap();
    let error = runner.run(&RenameName, Phase::Contract).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rename_user_name: refused before the swap, which leaves the old column as it is: users_name_upper_idx depend on \"users\".\"name\" but were \
         created after expand, so nothing carried them, and dropping the column would drop them; drop them, or \
         revert to before expand and run it again"
    );
    assert!(column(&mut client, "users", "name").is_some());
    client.batch_execute("DROP INDEX users_name_upper_idx").unwrap();
    runner.run(&RenameName, Phase::Contract).unwrap();
    assert!(column(&mut client, "users", "name").is_none());
}

/// A killed index build leaves an INVALID index; the backfill drops it and builds again.
#[test]
fn an_invalid_index_left_by_a_failed_build_is_rebuilt() {
    let db = TestDb::new("rename_column_invalid_index");
    let mut client = users(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&RenameName, Phase::Sync).unwrap();
    let failed = client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY zdm_users_name_idx ON users ((id % 2))")
        .expect_err("duplicates make the build fail");
    assert_eq!(
        failed.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
        "{failed}"
    );
    assert_eq!(
        index_definition(&mut client, "zdm_users_name_idx").map(|(valid, _)| valid),
        Some(false)
    );
    runner.run(&RenameName, Phase::Backfill).unwrap();
    assert_eq!(
        index_definition(&mut client, "zdm_users_name_idx"),
        Some((
            true,
            "CREATE INDEX zdm_users_name_idx ON public.users USING btree (full_name)".to_owned()
        ))
    );
}

/// A session holding a lock on the table makes the swap retry, then give up naming it;
/// nothing is half swapped, and once the blocker is gone the contract resumes.
#[test]
fn a_blocker_during_the_swap_is_named_and_the_contract_resumes() {
    let db = TestDb::new("rename_column_blocker");
    let mut client = users(&db, 100);
    db.runner().run_to(&RenameName, Phase::Backfill).unwrap();
    let mut runner = db.runner_with(Options {
        lock_timeout: std::time::Duration::from_millis(100),
        lock_budget: std::time::Duration::from_millis(1_000),
        ..test_options()
    });
    let mut blocker = db.connect();
    let blocker_pid: i32 = scalar(&mut blocker, "SELECT pg_backend_pid()");
    let mut blocking = blocker.transaction().unwrap();
    blocking.batch_execute("SELECT count(*) FROM users").unwrap();
    let error = runner.run(&RenameName, Phase::Contract).unwrap_err();
    match &error {
        Error::LockTimeout { blockers, .. } => {
            assert_eq!(
                blockers.iter().map(|blocker| blocker.pid).collect::<Vec<_>>(),
                [blocker_pid]
            )
        }
        other => panic!("expected a lock timeout, got {other}"),
    }
    assert!(column(&mut client, "users", "name").is_some(), "nothing swapped");
    blocking.rollback().unwrap();
    let report = runner.run(&RenameName, Phase::Contract).unwrap();
    assert!(report.resumed);
    assert!(column(&mut client, "users", "name").is_none());
}

/// Drift and what cannot be carried are refused before any change, naming the object,
/// and reverting the failed expand leaves the table alone.
#[test]
fn what_cannot_be_carried_is_refused_before_any_change() {
    let db = TestDb::new("rename_column_refusals");
    let mut client = users(&db, 20);
    client
        .batch_execute(
            "CREATE VIEW named_users AS SELECT id, name FROM users;
             ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
             CREATE TABLE badges (id bigint PRIMARY KEY, owner text REFERENCES users (email) ON UPDATE CASCADE);",
        )
        .unwrap_or_else(|error| panic!("{error}"));
    let before = (
        contents(&mut client, "users"),
        table_catalog(&mut client, "users"),
    );
    let mut runner = db.runner();

    let refusal = |runner: &mut zdm_runtime::Runner, migration: &dyn Migration| {
        let error = runner.run(migration, Phase::Expand).unwrap_err();
        let message = error.to_string();
        // Refused before any change, expand leaves no state to resume or revert.
        assert_eq!(runner.state(migration).unwrap(), Default::default());
        (error, message)
    };
    let (error, message) = refusal(&mut runner, &RenameName);
    assert!(matches!(error, Error::Refused { .. }), "{message}");
    assert_eq!(
        message,
        "rename_user_name: refused before any change: \"users\".\"name\" cannot be carried to \"full_name\" safely:\n  \
         - the view named_users uses \"name\"; a view cannot follow the swap, so drop it and re-create it over the \
         new column after contract"
    );
    let (_, message) = refusal(&mut runner, &RenameId);
    assert!(
        message.contains(
            "- \"id\" is part of the primary key users_pkey, which zdm cannot move without rewriting the table under \
             ACCESS EXCLUSIVE"
        ),
        "{message}"
    );

    // `to` already exists: drift, and the revert does not drop that column.
    let (error, message) = refusal(&mut runner, &RenameEmailOntoName);
    assert!(matches!(error, Error::Drift { .. }), "{message}");
    assert_eq!(
        message,
        "rename_user_email: the database does not match the declaration: expected no column \"name\" in \"users\", \
         found that column already there, of type text; nothing was changed"
    );
    assert_eq!(
        (
            contents(&mut client, "users"),
            table_catalog(&mut client, "users")
        ),
        before
    );

    // Referenced by a foreign key of another table.
    client
        .batch_execute("DROP VIEW named_users; ALTER TABLE users DROP COLUMN name CASCADE")
        .unwrap();
    client
        .batch_execute("ALTER TABLE users RENAME COLUMN email TO name")
        .unwrap();
    #[zero_downtime(
        id = "rename_user_login",
        rename_column(table = "users", from = "name", to = "login")
    )]
    struct RenameLogin;
    let (_, message) = refusal(&mut runner, &RenameLogin);
    assert!(
        message.contains(
            "- the foreign key badges_owner_fkey on badges references \"name\"; drop it, and re-create it against \
             the new column after contract"
        ),
        "{message}"
    );
    assert!(column(&mut client, "users", "login").is_none());
    assert!(
        scalar::<bool>(&mut client, "SELECT to_regclass('zdm.carried_columns') IS NULL"),
        "no refused expand recorded anything"
    );

    // No table at all.
    let db = TestDb::new("rename_column_refusals_no_table");
    let error = db.runner().run(&RenameName, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected table \"users\", found no such table"),
        "{error}"
    );
}
