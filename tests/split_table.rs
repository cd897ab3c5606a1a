//! `split_table` end to end against a real PostgreSQL: the catalog after every phase, a
//! sync that runs both ways (the seed's runs old → new only), each reversal restoring the
//! tables, writes of the new version surviving the reversal of contract, and both versions
//! writing through every phase without losing a write.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::Client;
use zdm_runtime::{zero_downtime, Action, Error, Event, Migration, Phase, SplitOperation};
use zdm_suite::{
    checksum, columns, constraints, functions, indexes, run_phases_under_load, scalar, server_version_num,
    trigger_definitions, triggers, Column, TestDb, Writer,
};

/// Users' profile and login columns move to tables of their own.
#[zero_downtime(
    id = "split_users",
    split_table(
        table = "users",
        into(table = "profiles", columns = ["bio", "avatar_url"]),
        into(table = "logins", columns = ["email", "password_hash"]),
    )
)]
struct SplitUsers;

/// A serial key: its sequence must outlive the source.
#[zero_downtime(
    id = "split_accounts",
    split_table(
        table = "accounts",
        key = "id",
        into(table = "account_names", columns = "name"),
        into(table = "account_plans", columns = ["plan"]),
    )
)]
struct SplitAccounts;

/// A composite key, and three new tables.
#[zero_downtime(
    id = "split_memberships",
    split_table(
        table = "memberships",
        key = ["org_id", "user_id"],
        into(table = "member_roles", columns = ["role"]),
        into(table = "member_titles", columns = ["title"]),
        into(table = "member_notes", columns = ["note", "since"]),
    )
)]
struct SplitMemberships;

const USERS: &str = "CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL CHECK (password_hash <> ''),
    bio text,
    avatar_url text DEFAULT 'a.png'
);
CREATE INDEX users_bio_idx ON users (bio);
GRANT SELECT ON users TO PUBLIC;";

fn users(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client.batch_execute(USERS).unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO users SELECT g, 'user' || g || '@x', md5(g::text), 'bio ' || g, \
                 CASE WHEN g % 7 = 0 THEN NULL ELSE 'pic' || g END \
             FROM generate_series(1, {rows}) g"
        ))
        .unwrap();
    client
}

/// Rows of `users` missing from the join of the new tables, plus rows of the join missing
/// from `users`.
fn disagreements(client: &mut Client) -> i64 {
    scalar(
        client,
        "SELECT count(*) FROM (
            (SELECT id, email, password_hash, bio, avatar_url FROM users
             EXCEPT SELECT id, email, password_hash, bio, avatar_url FROM profiles JOIN logins USING (id))
            UNION ALL
            (SELECT id, email, password_hash, bio, avatar_url FROM profiles JOIN logins USING (id)
             EXCEPT SELECT id, email, password_hash, bio, avatar_url FROM users)) AS d",
    )
}

fn column(name: &str, ty: &str, not_null: bool, default: Option<&str>) -> Column {
    Column {
        name: name.to_owned(),
        ty: ty.to_owned(),
        not_null,
        default: default.map(str::to_owned),
    }
}

fn exists(client: &mut Client, table: &str) -> bool {
    scalar(client, &format!("SELECT to_regclass('{table}') IS NOT NULL"))
}

fn split_functions(client: &mut Client) -> i64 {
    scalar(
        client,
        "SELECT count(*) FROM pg_proc WHERE proname LIKE 'zdm_split%'",
    )
}

/// The constraints of `table`, sorted by name in every collation.
fn sorted_constraints(client: &mut Client, table: &str) -> Vec<(String, String, bool, String)> {
    let mut found = constraints(client, table);
    found.sort();
    found
}

/// The constraints a new table gets: its primary key on `id` and, from PostgreSQL 18 on,
/// where each NOT NULL is a constraint too, one per NOT NULL column under the name
/// PostgreSQL gives its own.
fn only_the_primary_key(client: &mut Client, table: &str) -> Vec<(String, String, bool, String)> {
    let mut expected = vec![(
        format!("{table}_pkey"),
        "p".to_owned(),
        true,
        "PRIMARY KEY (id)".to_owned(),
    )];
    if server_version_num(client) >= 180_000 {
        for column in columns(client, table).into_iter().filter(|c| c.not_null) {
            expected.push((
                format!("{table}_{}_not_null", column.name),
                "n".to_owned(),
                true,
                format!("NOT NULL {}", column.name),
            ));
        }
    }
    expected.sort();
    expected
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("split_table_full_cycle");
    let mut client = users(&db, 1_000);
    let users_columns = columns(&mut client, "users");
    let mut runner = db.runner();

    runner.run(&SplitUsers, Phase::Expand).unwrap();
    assert_eq!(
        columns(&mut client, "profiles"),
        [
            column("id", "bigint", true, None),
            column("bio", "text", false, None),
            column("avatar_url", "text", false, Some("'a.png'::text")),
        ]
    );
    assert_eq!(
        columns(&mut client, "logins"),
        [
            column("id", "bigint", true, None),
            column("email", "text", true, None),
            column("password_hash", "text", true, None),
        ]
    );
    for table in ["profiles", "logins"] {
        assert_eq!(
            sorted_constraints(&mut client, table),
            only_the_primary_key(&mut client, table)
        );
        assert!(triggers(&mut client, table).is_empty());
        assert_eq!(
            scalar::<i64>(&mut client, &format!("SELECT count(*) FROM {table}")),
            0
        );
    }
    assert_eq!(
        columns(&mut client, "users"),
        users_columns,
        "the source is untouched"
    );
    assert!(
        scalar::<bool>(
            &mut client,
            "SELECT has_table_privilege('public', 'logins', 'SELECT') \
                AND NOT has_table_privilege('public', 'logins', 'INSERT')"
        ),
        "the source's privileges: SELECT for PUBLIC"
    );
    assert!(triggers(&mut client, "users").is_empty());

    runner.run(&SplitUsers, Phase::Sync).unwrap();
    assert_eq!(triggers(&mut client, "users"), ["zdm_split_users"]);
    for table in ["profiles", "logins"] {
        assert_eq!(triggers(&mut client, table), ["zdm_split_users_back"]);
        // A constraint trigger, deferred to commit.
        assert!(scalar::<bool>(
            &mut client,
            &format!(
                "SELECT tgdeferrable AND tginitdeferred FROM pg_trigger \
                 WHERE tgrelid = '{table}'::regclass AND tgname = 'zdm_split_users_back'"
            )
        ));
    }
    // The old version writes: the new tables get the row at once, nothing more.
    client
        .batch_execute(
            "INSERT INTO users (id, email, password_hash) VALUES (5000, 'new@x', 'h');
             UPDATE users SET bio = 'edited' WHERE id = 5;",
        )
        .unwrap();
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM profiles"), 2);
    assert_eq!(
        scalar::<String>(&mut client, "SELECT avatar_url FROM profiles WHERE id = 5000"),
        "a.png"
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM profiles WHERE id = 5"),
        "edited"
    );

    let report = runner.run(&SplitUsers, Phase::Backfill).unwrap();
    assert_eq!(
        report.steps[0].rows, 1_998,
        "each row copied once into each new table, the two synced rows kept as they were"
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM logins"), 1_001);
    assert_eq!(disagreements(&mut client), 0);
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM profiles WHERE id = 5"),
        "edited",
        "the backfill does not overwrite what the sync wrote"
    );

    runner.run(&SplitUsers, Phase::Contract).unwrap();
    assert!(!exists(&mut client, "users"));
    for table in ["profiles", "logins"] {
        assert!(triggers(&mut client, table).is_empty());
        assert_eq!(
            sorted_constraints(&mut client, table),
            only_the_primary_key(&mut client, table)
        );
    }
    assert_eq!(split_functions(&mut client), 0);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM zdm.split_snapshots WHERE migration = 'split_users' AND source = 'public.users'"
        ),
        1
    );
    let state = runner.state(&SplitUsers).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Contract), None));
}

/// The seed's split sync runs old → new only: a write of the new version never reaches the
/// old table. Here each write of either version reaches the other shape.
#[test]
fn the_sync_runs_both_ways() {
    let db = TestDb::new("split_table_both_ways");
    let mut client = users(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&SplitUsers, Phase::Backfill).unwrap();

    // A new user, the profile written before the login, in one transaction: the source
    // row is built at commit, when both are there, so its NOT NULL columns are satisfied.
    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute(
            "INSERT INTO profiles (id, bio) VALUES (500, 'fresh');
             INSERT INTO logins (id, email, password_hash) VALUES (500, 'fresh@x', 'h500');",
        )
        .unwrap();
    transaction.commit().unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT concat_ws('|', email, password_hash, bio, avatar_url) FROM users WHERE id = 500"
        ),
        "fresh@x|h500|fresh|a.png"
    );
    // Updates of either new table, deletes from both, and a key change.
    client
        .batch_execute(
            "UPDATE logins SET email = 'moved@x' WHERE id = 1;
             UPDATE profiles SET bio = NULL, avatar_url = 'b.png' WHERE id = 2;
             BEGIN; DELETE FROM profiles WHERE id = 3; DELETE FROM logins WHERE id = 3; COMMIT;
             BEGIN; UPDATE profiles SET id = 900 WHERE id = 4; UPDATE logins SET id = 900 WHERE id = 4; COMMIT;",
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email FROM users WHERE id = 1"),
        "moved@x"
    );
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT coalesce(bio, 'NULL') || '|' || avatar_url FROM users WHERE id = 2"
        ),
        "NULL|b.png"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE id IN (3, 4)"),
        0
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email FROM users WHERE id = 900"),
        "user4@x"
    );
    // The old version's writes, the other way.
    client
        .batch_execute(
            "UPDATE users SET password_hash = 'rotated' WHERE id = 10;
             UPDATE users SET id = 901 WHERE id = 11;
             DELETE FROM users WHERE id = 12;",
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT password_hash FROM logins WHERE id = 10"),
        "rotated"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM profiles JOIN logins USING (id) WHERE id IN (11, 12)"
        ),
        0
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM profiles WHERE id = 901"),
        "bio 11"
    );
    assert_eq!(disagreements(&mut client), 0);

    // A key written into only some new tables cannot make a source row whose NOT NULL
    // columns come from the others: the new version's transaction fails at commit.
    let error = client
        .execute("INSERT INTO profiles (id, bio) VALUES (600, 'alone')", &[])
        .unwrap_err();
    assert!(
        error
            .as_db_error()
            .is_some_and(|db| db.message().contains("null value in column \"email\"")),
        "{error:?}"
    );
    assert_eq!(disagreements(&mut client), 0);
}

/// Why the guard is a transaction-local setting and not `pg_trigger_depth()`: a row that a
/// trigger of the user's writes into the source is written at depth 1 or more, and must be
/// synced all the same.
#[test]
fn rows_written_by_the_users_own_triggers_are_synced() {
    let db = TestDb::new("split_table_user_triggers");
    let mut client = users(&db, 10);
    client
        .batch_execute(
            "CREATE TABLE signups (id bigint, email text);
             CREATE FUNCTION signup() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO users (id, email, password_hash) VALUES (NEW.id, NEW.email, 'h');
                 RETURN NULL;
             END $$;
             CREATE TRIGGER signup AFTER INSERT ON signups FOR EACH ROW EXECUTE FUNCTION signup();",
        )
        .unwrap();
    db.runner().run_to(&SplitUsers, Phase::Backfill).unwrap();
    client
        .execute("INSERT INTO signups VALUES (77, 'signed-up@x')", &[])
        .unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT email || '|' || avatar_url FROM logins JOIN profiles USING (id) WHERE id = 77"
        ),
        "signed-up@x|a.png"
    );
    assert_eq!(disagreements(&mut client), 0);
}

/// Runs every phase up to `phase`, reverts it, and checks the tables (with their trigger
/// definitions) and the functions are what they were.
fn assert_revert_restores(db: &TestDb, migration: &dyn Migration, tables: &[&str], phase: Phase) {
    let mut client = db.connect();
    let mut runner = db.runner();
    if let Some(previous) = phase.previous() {
        runner.run_to(migration, previous).unwrap();
    }
    let snapshot = |client: &mut Client| {
        let mut found = Vec::new();
        for table in tables {
            if exists(client, table) {
                found.push((
                    table.to_string(),
                    checksum(client, table),
                    columns(client, table),
                    indexes(client, table),
                    trigger_definitions(client, table),
                    constraints(client, table),
                ));
            }
        }
        (found, functions(client))
    };
    let before = snapshot(&mut client);
    let grants: String = scalar(
        &mut client,
        "SELECT coalesce(relacl::text, '') FROM pg_class WHERE oid = to_regclass('users')",
    );
    runner.run(migration, phase).unwrap();
    runner.revert(migration, phase).unwrap();
    let mut after = snapshot(&mut client);
    if phase == Phase::Backfill {
        // Reverting the backfill keeps the rows it copied: the sync keeps them right like
        // any other, and they go when sync is reverted. The new tables agree with the source.
        assert_eq!(disagreements(&mut client), 0);
        for ((_, restored, ..), (_, copied, ..)) in before.0.iter().zip(&mut after.0).skip(1) {
            assert_eq!(restored, "empty");
            *copied = restored.clone();
        }
    }
    assert_eq!(after, before, "after reverting {phase}");
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT coalesce(relacl::text, '') FROM pg_class WHERE oid = to_regclass('users')"
        ),
        grants
    );
    assert_eq!(runner.state(migration).unwrap().completed, phase.previous());
}

#[test]
fn each_reversal_restores_the_tables_exactly() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("split_table_revert_{phase}"));
        users(&db, 600);
        assert_revert_restores(&db, &SplitUsers, &["users", "profiles", "logins"], phase);
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    let db = TestDb::new("split_table_revert_all");
    let mut client = users(&db, 700);
    let before = (
        checksum(&mut client, "users"),
        columns(&mut client, "users"),
        indexes(&mut client, "users"),
        constraints(&mut client, "users"),
    );
    let mut runner = db.runner();
    runner.run_to(&SplitUsers, Phase::Contract).unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SplitUsers, phase).unwrap();
    }
    let after = (
        checksum(&mut client, "users"),
        columns(&mut client, "users"),
        indexes(&mut client, "users"),
        constraints(&mut client, "users"),
    );
    assert_eq!(after, before);
    assert!(triggers(&mut client, "users").is_empty());
    assert!(!exists(&mut client, "profiles") && !exists(&mut client, "logins"));
    assert_eq!(split_functions(&mut client), 0);
    assert_eq!(runner.state(&SplitUsers).unwrap().completed, None);
}

#[test]
fn writes_of_the_new_version_after_contract_survive_its_reversal() {
    let db = TestDb::new("split_table_revert_after_writes");
    let mut client = users(&db, 400);
    let mut runner = db.runner();
    runner.run_to(&SplitUsers, Phase::Contract).unwrap();
    // Only the new version runs now, on the new tables alone.
    client
        .batch_execute(
            "BEGIN;
             INSERT INTO logins VALUES (1000, 'after@x', 'h');
             INSERT INTO profiles VALUES (1000, 'after contract', NULL);
             COMMIT;
             UPDATE profiles SET bio = 'changed after contract' WHERE id = 7;
             DELETE FROM profiles WHERE id = 8; DELETE FROM logins WHERE id = 8;",
        )
        .unwrap();

    // Rolled back to the old version: the source comes back with every one of those writes.
    let report = runner.revert(&SplitUsers, Phase::Contract).unwrap();
    assert_eq!(
        report.steps[1].rows, 400,
        "the source is refilled from the new tables"
    );
    assert_eq!(report.steps[2].rows, 0, "no login without a profile");
    assert_eq!(disagreements(&mut client), 0);
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT concat_ws('|', email, bio, coalesce(avatar_url, 'NULL')) FROM users WHERE id = 1000"
        ),
        "after@x|after contract|NULL"
    );
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM users WHERE id = 7"),
        "changed after contract"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM users WHERE id = 8"),
        0
    );
    // The sync is back: both versions run again.
    assert_eq!(triggers(&mut client, "users"), ["zdm_split_users"]);
    client
        .batch_execute("UPDATE users SET bio = 'old version again' WHERE id = 9")
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM profiles WHERE id = 9"),
        "old version again"
    );
    // All the way back: the writes stay in the old table.
    for phase in [Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SplitUsers, phase).unwrap();
    }
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM users"), 400);
    assert_eq!(
        scalar::<String>(&mut client, "SELECT bio FROM users WHERE id = 1000"),
        "after contract"
    );
    // And the split runs again from there.
    runner.run_to(&SplitUsers, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM profiles JOIN logins USING (id)"
        ),
        400
    );
}

#[test]
fn a_serial_key_keeps_its_sequence_through_contract_and_back() {
    let db = TestDb::new("split_table_serial_key");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL, plan text DEFAULT 'free');
             INSERT INTO accounts (name) SELECT 'account ' || g FROM generate_series(1, 300) g;",
        )
        .unwrap();
    let before = checksum(&mut client, "accounts");
    let mut runner = db.runner();
    runner.run_to(&SplitAccounts, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT pg_get_serial_sequence('account_names', 'id')"
        ),
        "public.accounts_id_seq",
        "the sequence went to the first new table"
    );
    // The new version takes keys from it.
    client
        .batch_execute(
            "BEGIN;
             INSERT INTO account_names (name) VALUES ('new');
             INSERT INTO account_plans (id, plan) VALUES (currval('accounts_id_seq'), 'pro');
             COMMIT;",
        )
        .unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT id FROM account_names WHERE name = 'new'"),
        301
    );
    runner.revert(&SplitAccounts, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT pg_get_serial_sequence('accounts', 'id')"),
        "public.accounts_id_seq"
    );
    // The old version, back, takes the next key.
    client
        .batch_execute("INSERT INTO accounts (name) VALUES ('old again')")
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT plan FROM account_plans WHERE id = 302"),
        "free"
    );
    for phase in [Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SplitAccounts, phase).unwrap();
    }
    client
        .batch_execute("DELETE FROM accounts WHERE id > 300")
        .unwrap();
    assert_eq!(checksum(&mut client, "accounts"), before);
}

#[test]
fn a_composite_key_is_shared_by_three_new_tables() {
    let db = TestDb::new("split_table_composite_key");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE memberships (
                 org_id integer, user_id integer, role text NOT NULL, title text, note text,
                 since date DEFAULT '2020-01-01', PRIMARY KEY (org_id, user_id));
             INSERT INTO memberships
                 SELECT g % 10, g, CASE WHEN g % 3 = 0 THEN 'admin' ELSE 'member' END, 'title ' || g, NULL, DATE '2021-01-01' + g
                 FROM generate_series(1, 500) g;",
        )
        .unwrap();
    let before = checksum(&mut client, "memberships");
    let mut runner = db.runner();
    runner.run_to(&SplitMemberships, Phase::Backfill).unwrap();
    assert_eq!(
        constraints(&mut client, "member_notes")
            .into_iter()
            .find(|(_, kind, ..)| kind == "p")
            .map(|(.., definition)| definition),
        Some("PRIMARY KEY (org_id, user_id)".to_owned())
    );
    client
        .batch_execute(
            "BEGIN;
             INSERT INTO member_titles VALUES (1, 9000, 'boss');
             INSERT INTO member_roles VALUES (1, 9000, 'owner');
             INSERT INTO member_notes (org_id, user_id, note) VALUES (1, 9000, 'new');
             COMMIT;
             UPDATE memberships SET user_id = 9001 WHERE (org_id, user_id) = (2, 2);",
        )
        .unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT concat_ws('|', role, title, note, since) FROM memberships WHERE (org_id, user_id) = (1, 9000)"
        ),
        "owner|boss|new|2020-01-01"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM member_roles JOIN member_titles USING (org_id, user_id) \
             JOIN member_notes USING (org_id, user_id) WHERE (org_id, user_id) = (2, 9001)"
        ),
        1
    );
    runner.run(&SplitMemberships, Phase::Contract).unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SplitMemberships, phase).unwrap();
    }
    client
        .batch_execute(
            "DELETE FROM memberships WHERE (org_id, user_id) = (1, 9000);
             UPDATE memberships SET user_id = 2 WHERE (org_id, user_id) = (2, 9001);",
        )
        .unwrap();
    assert_eq!(checksum(&mut client, "memberships"), before);
}

/// What a writer expects of one user: `None` once deleted.
type Expected = Arc<Mutex<BTreeMap<i64, Option<[Option<String>; 4]>>>>;

fn row(
    email: &str,
    password_hash: &str,
    bio: Option<&str>,
    avatar_url: Option<&str>,
) -> Option<[Option<String>; 4]> {
    Some([
        Some(email.to_owned()),
        Some(password_hash.to_owned()),
        bio.map(str::to_owned),
        avatar_url.map(str::to_owned),
    ])
}

/// Every user the writers touched, as it is in `table` (a table or a join).
fn check_expected(client: &mut Client, from: &str, expected: &Expected) {
    for (id, want) in expected.lock().unwrap().iter() {
        let found = client
            .query_opt(
                &format!("SELECT email, password_hash, bio, avatar_url FROM {from} WHERE id = $1"),
                &[id],
            )
            .unwrap()
            .map(|found| [found.get(0), found.get(1), found.get(2), found.get(3)]);
        assert_eq!(&found, want, "user {id} in {from}");
    }
}

#[test]
fn old_and_new_versions_writing_during_every_phase_lose_nothing() {
    let db = TestDb::new("split_table_mixed_versions");
    let mut client = users(&db, 2_000);
    let old_expected: Expected = Arc::default();
    let new_expected: Expected = Arc::default();

    // The old version writes the old table until contract starts: inserts, updates of its
    // own rows and of odd seed rows, key changes and deletes, in one transaction per call.
    let expected = old_expected.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let mut expected = expected.lock().unwrap();
            let id = 1_000_000 + n;
            let seed = (n % 1_000) * 2 + 1;
            let victim = expected
                .iter()
                .find(|(key, value)| **key >= 1_000_000 && value.is_some())
                .map(|(key, _)| *key);
            let mut transaction = client.transaction().unwrap();
            let mut changes = Vec::new();
            let outcome = (|| -> Result<(), postgres::Error> {
                transaction.execute(
                "INSERT INTO users (id, email, password_hash, bio) VALUES ($1, 'old' || $1::bigint, 'h', 'old bio')",
                &[&id],
            )?;
                changes.push((id, row(&format!("old{id}"), "h", Some("old bio"), Some("a.png"))));
                let hash: String = transaction
                    .query_one(
                        "UPDATE users SET bio = 'old edit ' || $2::bigint, avatar_url = NULL WHERE id = $1 \
                     RETURNING password_hash",
                        &[&seed, &n],
                    )?
                    .get(0);
                let bio = format!("old edit {n}");
                changes.push((seed, row(&format!("user{seed}@x"), &hash, Some(&bio), None)));
                match victim {
                    Some(victim) if n % 3 == 0 => {
                        transaction.execute("DELETE FROM users WHERE id = $1", &[&victim])?;
                        changes.push((victim, None));
                    }
                    Some(victim) if n % 3 == 1 && victim < 3_000_000 => {
                        let moved = victim + 2_000_000;
                        transaction.execute(
                            "UPDATE users SET id = $2, email = email || '!' WHERE id = $1",
                            &[&victim, &moved],
                        )?;
                        let mut value = expected[&victim].clone().unwrap();
                        value[0] = value[0].take().map(|email| email + "!");
                        changes.push((victim, None));
                        changes.push((moved, Some(value)));
                    }
                    _ => {}
                }
                Ok(())
            })();
            // No call of the old version is still running when contract starts (the harness
            // waits for it), so none can meet the dropped table.
            match outcome.and_then(|()| transaction.commit()) {
                Ok(()) => expected.extend(changes),
                Err(error) => panic!("old version, call {n}: {error}"),
            }
        },
    );

    // The new version, deployed once sync is in, writes the new tables only: a new user in
    // both in one transaction, updates, key changes and deletes of its own users, and, once
    // the backfill is done, updates of even seed rows.
    let expected = new_expected.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Backfill..=Phase::Contract,
        move |client, phase, n| {
            let mut expected = expected.lock().unwrap();
            let id = 10_000_000 + n;
            let mut transaction = client.transaction().unwrap();
            transaction
                .execute(
                    "INSERT INTO profiles (id, bio, avatar_url) VALUES ($1, 'new bio', 'new.png')",
                    &[&id],
                )
                .unwrap();
            transaction
                .execute(
                    "INSERT INTO logins (id, email, password_hash) VALUES ($1, 'new' || $1::bigint, 'n')",
                    &[&id],
                )
                .unwrap();
            transaction.commit().unwrap();
            expected.insert(
                id,
                row(&format!("new{id}"), "n", Some("new bio"), Some("new.png")),
            );
            if phase == Phase::Contract {
                let seed = (n % 1_000) * 2 + 2;
                client
                    .execute(
                        "UPDATE logins SET password_hash = 'new hash ' || $2::bigint WHERE id = $1",
                        &[&seed, &n],
                    )
                    .unwrap();
                // Even seed rows are touched by no one else: as seeded, but for this write.
                let avatar_url = (seed % 7 != 0).then(|| format!("pic{seed}"));
                let mut value = row(
                    &format!("user{seed}@x"),
                    "",
                    Some(&format!("bio {seed}")),
                    avatar_url.as_deref(),
                )
                .unwrap();
                value[1] = Some(format!("new hash {n}"));
                expected.insert(seed, Some(value));
            }
            let live: Vec<i64> = expected
                .iter()
                .filter(|(key, value)| **key >= 10_000_000 && **key != id && value.is_some())
                .map(|(key, _)| *key)
                .collect();
            if let Some(&victim) = live.first() {
                let mut transaction = client.transaction().unwrap();
                if n % 3 == 0 {
                    transaction
                        .execute("DELETE FROM profiles WHERE id = $1", &[&victim])
                        .unwrap();
                    transaction
                        .execute("DELETE FROM logins WHERE id = $1", &[&victim])
                        .unwrap();
                    expected.insert(victim, None);
                } else if n % 3 == 1 && victim < 20_000_000 {
                    let moved = victim + 10_000_000;
                    for table in ["profiles", "logins"] {
                        transaction
                            .execute(
                                &format!("UPDATE {table} SET id = $2 WHERE id = $1"),
                                &[&victim, &moved],
                            )
                            .unwrap();
                    }
                    transaction
                        .execute("UPDATE profiles SET bio = 'moved' WHERE id = $1", &[&moved])
                        .unwrap();
                    let mut value = expected.insert(victim, None).flatten().unwrap();
                    value[2] = Some("moved".to_owned());
                    expected.insert(moved, Some(value));
                }
                transaction.commit().unwrap();
            }
        },
    );

    run_phases_under_load(&db, &SplitUsers, vec![old_version, new_version]);
    let (old_writes, new_writes) = (
        old_expected.lock().unwrap().len(),
        new_expected.lock().unwrap().len(),
    );
    assert!(
        old_writes > 10 && new_writes > 10,
        "both versions wrote ({old_writes}, {new_writes} users touched)"
    );
    let expected: Expected = Arc::default();
    for writes in [&old_expected, &new_expected] {
        expected.lock().unwrap().extend(writes.lock().unwrap().clone());
    }
    check_expected(&mut client, "profiles JOIN logins USING (id)", &expected);
    let live = expected
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, value)| **id > 2_000 && value.is_some())
        .count();
    let total: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM profiles JOIN logins USING (id)",
    );
    assert_eq!(total as usize, 2_000 + live, "no user lost, none left over");
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM profiles FULL JOIN logins USING (id) WHERE profiles IS NULL OR logins IS NULL"
        ),
        0,
        "every user in both new tables"
    );

    // Rolled back to the old shape, every row agrees with the new one.
    db.runner().revert(&SplitUsers, Phase::Contract).unwrap();
    assert_eq!(disagreements(&mut client), 0);
    check_expected(&mut client, "users", &expected);
}

#[test]
fn a_column_in_no_new_table_is_refused_before_any_change() {
    let db = TestDb::new("split_table_unassigned_column");
    let mut client = users(&db, 10);
    client
        .batch_execute("ALTER TABLE users ADD COLUMN created_at timestamptz, ADD COLUMN name text")
        .unwrap();
    let mut runner = db.runner();
    let error = runner.run(&SplitUsers, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "split_users: the database does not match the declaration: expected every column of \"users\" other \
         than the key (\"id\") listed in exactly one `into(columns = […])`, since the table is dropped at \
         contract, found \"created_at\", \"name\" in no `into(…)`; nothing was changed"
    );
    assert!(!exists(&mut client, "profiles") && !exists(&mut client, "logins"));
}

#[test]
fn a_listed_column_missing_from_the_table_is_refused() {
    let db = TestDb::new("split_table_missing_column");
    let mut client = users(&db, 10);
    client.batch_execute("ALTER TABLE users DROP COLUMN bio").unwrap();
    let error = db.runner().run(&SplitUsers, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("found \"bio\" listed but not in the table; nothing was changed"),
        "{error}"
    );
    assert!(!exists(&mut client, "profiles"));
}

#[test]
fn a_key_that_is_not_the_primary_key_is_refused() {
    let db = TestDb::new("split_table_wrong_key");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE users (id bigint NOT NULL UNIQUE, email text PRIMARY KEY, password_hash text, \
             bio text, avatar_url text)",
        )
        .unwrap();
    let error = db.runner().run(&SplitUsers, Phase::Expand).unwrap_err();
    assert!(
        error.to_string().contains(
            "expected the primary key of \"users\" to be (\"id\"), as `key` says, found primary key (\"email\")"
        ),
        "{error}"
    );
    assert!(!exists(&mut client, "profiles"));
}

#[test]
fn an_identity_key_is_refused() {
    let db = TestDb::new("split_table_identity_key");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text, \
             password_hash text, bio text, avatar_url text)",
        )
        .unwrap();
    let error = db.runner().run(&SplitUsers, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("found \"id\" (an identity column); nothing was changed"),
        "{error}"
    );
    assert!(!exists(&mut client, "profiles"));
}

#[test]
fn a_new_table_that_already_exists_is_drift() {
    let db = TestDb::new("split_table_target_exists");
    let mut client = users(&db, 10);
    client.batch_execute("CREATE VIEW logins AS SELECT 1").unwrap();
    let error = db.runner().run(&SplitUsers, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "split_users: the database does not match the declaration: expected no relation named \"logins\", \
         found a view of that name; nothing was changed"
    );
    assert!(!exists(&mut client, "profiles"));
}

#[test]
fn contract_refuses_while_something_else_uses_the_table() {
    let db = TestDb::new("split_table_dependents");
    let mut client = users(&db, 50);
    let mut runner = db.runner();
    runner.run_to(&SplitUsers, Phase::Backfill).unwrap();
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, user_id bigint REFERENCES users);
             CREATE VIEW emails AS SELECT email FROM users;",
        )
        .unwrap();
    let error = runner.run(&SplitUsers, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{message}");
    assert!(
        message.contains(
            "expected no foreign key or view outside \"users\" using it (point them at the new tables first)"
        ),
        "{message}"
    );
    assert!(
        message.contains("foreign key orders_user_id_fkey of orders"),
        "{message}"
    );
    assert!(message.contains("view emails"), "{message}");
    assert!(exists(&mut client, "users"));
    assert_eq!(triggers(&mut client, "users"), ["zdm_split_users"]);

    // A column added since expand would be lost with the table: the first check refuses it
    // with the column's name.
    client
        .batch_execute("DROP VIEW emails; DROP TABLE orders; ALTER TABLE users ADD COLUMN nickname text")
        .unwrap();
    let message = runner.run(&SplitUsers, Phase::Contract).unwrap_err().to_string();
    assert!(
        message.contains(
            "expected every column of \"users\" in one of the new tables (a column added since expand would be \
             lost with the table; split it with a migration of its own), found 1 offending row(s); for example:\n  nickname"
        ),
        "{message}"
    );
    client
        .batch_execute("ALTER TABLE users DROP COLUMN nickname")
        .unwrap();
    // One added after that check, just before the step that drops the table, is found by
    // that step's own check, under its lock.
    let adder = Arc::new(Mutex::new(Some(db.connect())));
    let add_once = adder.clone();
    runner.observe(move |event| {
        if let Event::StepStarted { step, .. } = event {
            if matches!(&step.action, Action::Split(split) if split.operation == SplitOperation::DropSource) {
                if let Some(mut client) = add_once.lock().unwrap().take() {
                    client
                        .batch_execute("ALTER TABLE users ADD COLUMN nickname text")
                        .unwrap();
                }
            }
        }
    });
    let message = runner.run(&SplitUsers, Phase::Contract).unwrap_err().to_string();
    assert!(
        message.ends_with("found \"nickname\" in no `into(…)`; nothing was changed"),
        "{message}"
    );
    assert!(
        adder.lock().unwrap().is_none(),
        "the column was added just before the drop"
    );
    assert!(exists(&mut client, "users"));
    // The contract stopped past its first steps: it resumes at the drop, which goes through
    // once the column is gone.
    runner.observe(|_| {});
    client
        .batch_execute("ALTER TABLE users DROP COLUMN nickname")
        .unwrap();
    runner.run(&SplitUsers, Phase::Contract).unwrap();
    assert!(!exists(&mut client, "users"));
}

#[test]
fn reverting_contract_without_its_record_is_refused() {
    let db = TestDb::new("split_table_no_snapshot");
    let mut client = users(&db, 20);
    let mut runner = db.runner();
    runner.run_to(&SplitUsers, Phase::Contract).unwrap();
    client.batch_execute("DELETE FROM zdm.split_snapshots").unwrap();
    let error = runner.revert(&SplitUsers, Phase::Contract).unwrap_err();
    assert_eq!(
        error.to_string(),
        "split_users: the database does not match the declaration: expected table \"users\", or the record \
         contract keeps of it in \"zdm\".split_snapshots to rebuild it, found neither; nothing was changed"
    );
    assert!(!exists(&mut client, "users"));
    assert!(triggers(&mut client, "profiles").is_empty());
}
