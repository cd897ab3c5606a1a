//! A migration acts on the tables it began with, whatever the session that runs a later
//! phase has for a search path: expand's path is recorded and set again for every later
//! phase and reversal, and a name that has come to mean another relation is refused before
//! any change.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase, Runner};
use zdm_suite::{scalar, test_options, TestDb};

#[zero_downtime(
    id = "schemas_add_tier",
    add_column(table = "users", column = "tier", ty = "text", backfill = "'free'", not_null)
)]
struct AddTier;

const TABLES: &str = "
    CREATE SCHEMA app;
    CREATE TABLE public.users (id bigint PRIMARY KEY, name text);
    CREATE TABLE app.users (id bigint PRIMARY KEY, name text);
    INSERT INTO public.users SELECT g, 'public ' || g FROM generate_series(1, 50) g;
    INSERT INTO app.users SELECT g, 'app ' || g FROM generate_series(1, 50) g;";

/// A runner whose session has `search_path` as given.
fn runner_with_path(db: &TestDb, search_path: &str) -> Runner {
    let mut client = db.connect();
    client
        .execute("SELECT set_config('search_path', $1, false)", &[&search_path])
        .unwrap();
    Runner::new(client, test_options()).unwrap()
}

/// Whether `<schema>.users` has the column `tier`, and whether it is NOT NULL.
fn has_tier(client: &mut Client, schema: &str) -> Option<bool> {
    client
        .query_opt(
            "SELECT a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'users' AND a.attname = 'tier' AND NOT a.attisdropped",
            &[&schema],
        )
        .unwrap()
        .map(|row| row.get(0))
}

/// The triggers on `<schema>.users`.
fn triggers(client: &mut Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'users' AND NOT t.tgisinternal ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[test]
fn later_phases_act_on_the_tables_expand_found_whatever_the_session_path() {
    let db = TestDb::new("schemas_later_phases");
    let mut client = db.connect();
    client.batch_execute(TABLES).unwrap();
    runner_with_path(&db, "app").run(&AddTier, Phase::Expand).unwrap();
    assert_eq!(has_tier(&mut client, "app"), Some(false));
    assert_eq!(has_tier(&mut client, "public"), None);

    // A session on the default path (public first) runs the rest, with a reversal between.
    let mut runner = runner_with_path(&db, "\"$user\", public");
    runner.run_to(&AddTier, Phase::Backfill).unwrap();
    runner.revert(&AddTier, Phase::Backfill).unwrap();
    runner.run_to(&AddTier, Phase::Contract).unwrap();
    assert_eq!(
        has_tier(&mut client, "app"),
        Some(true),
        "contract made app.users.tier NOT NULL"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM app.users WHERE tier = 'free'"),
        50
    );
    assert_eq!(
        has_tier(&mut client, "public"),
        None,
        "public.users was never touched"
    );
    assert_eq!(triggers(&mut client, "public"), Vec::<String>::new());
}

#[test]
fn a_name_that_now_means_another_table_is_refused_before_any_change() {
    let db = TestDb::new("schemas_name_moved");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE TABLE public.users (id bigint PRIMARY KEY, name text);
             INSERT INTO public.users SELECT g, 'public ' || g FROM generate_series(1, 50) g;",
        )
        .unwrap();
    let mut runner = runner_with_path(&db, "app, public");
    runner.run(&AddTier, Phase::Expand).unwrap();
    let public_oid: u32 = scalar(&mut client, "SELECT 'public.users'::regclass::oid");
    // A table of the same name, made since in a schema earlier on the path.
    client
        .batch_execute("CREATE TABLE app.users (id bigint PRIMARY KEY, name text, tier text)")
        .unwrap();
    let app_oid: u32 = scalar(&mut client, "SELECT 'app.users'::regclass::oid");
    let before = (triggers(&mut client, "public"), triggers(&mut client, "app"));
    let error = runner.run(&AddTier, Phase::Sync).unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "schemas_add_tier: refused before any change: \"users\" now names app.users (oid {app_oid}), not \
             public.users (oid {public_oid}), the relation this migration has worked on; zdm acts only on the \
             relations it began with"
        )
    );
    assert_eq!(
        (triggers(&mut client, "public"), triggers(&mut client, "app")),
        before,
        "no trigger was made on either table"
    );
    // The refusal leaves the migration where it was: once the name means the table again,
    // the phase runs, on that table.
    client.batch_execute("DROP TABLE app.users").unwrap();
    runner.run(&AddTier, Phase::Sync).unwrap();
    let made = triggers(&mut client, "public");
    assert!(
        !made.is_empty() && made.iter().all(|name| name.starts_with("zdm_sync_users_tier")),
        "{made:?}"
    );
}
