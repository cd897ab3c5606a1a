//! A migration acts on the tables it began with, whatever the session that runs a later
//! phase has for a search path: expand's path is recorded and set again for every later
//! phase and reversal, and a name that has come to mean another relation is refused before
//! any change.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Phase, Runner};
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
    assert_eq!(
        (
            functions_in(&mut client, "app"),
            functions_in(&mut client, "public")
        ),
        (vec!["zdm_sync_users_tier".to_owned()], vec![]),
        "the trigger function went to the first schema of the recorded path, not the session's"
    );
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

// Declared schemas: `schema = "app"` names the table wherever the runner's session looks,
// and everything zdm makes for it lands in that schema. Each declaration below works on
// app's tables while public holds tables of the same names, and the runner's path is
// public alone: any unqualified name would reach the wrong table, or none.

#[zero_downtime(
    id = "declared_add_column",
    add_column(
        schema = "app",
        table = "users",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
struct DeclaredAddColumn;

#[zero_downtime(
    id = "declared_rename_column",
    rename_column(schema = "app", table = "users", from = "email", to = "email_address")
)]
struct DeclaredRenameColumn;

#[zero_downtime(
    id = "declared_change_type",
    change_type(schema = "app", table = "users", column = "score", to = "bigint")
)]
struct DeclaredChangeType;

#[zero_downtime(
    id = "declared_add_foreign_key",
    add_foreign_key(
        schema = "app",
        table = "users",
        column = "customer_id",
        ty = "bigint",
        references_schema = "crm",
        references = "customers",
        backfill = "id",
        not_null
    )
)]
struct DeclaredAddForeignKey;

#[zero_downtime(
    id = "declared_add_not_null",
    add_not_null(schema = "app", table = "users", column = "name", backfill = "'anonymous'")
)]
struct DeclaredAddNotNull;

#[zero_downtime(
    id = "declared_add_index",
    add_index(schema = "app", table = "users", columns = ["name"], unique, where = "id > 0")
)]
struct DeclaredAddIndex;

#[zero_downtime(
    id = "declared_rename_table",
    rename_table(schema = "app", from = "users", to = "members")
)]
struct DeclaredRenameTable;

#[zero_downtime(
    id = "declared_split_table",
    split_table(
        schema = "app",
        table = "users",
        into(table = "user_names", columns = ["name", "score"]),
        into(table = "user_emails", columns = ["email"])
    )
)]
struct DeclaredSplitTable;

/// Two schemas with a `users` table each, alike but for their rows, an index on `email`
/// (which a column swap carries) and a referenced table in a third schema.
const TWIN_TABLES: &str = "
    CREATE SCHEMA app;
    CREATE SCHEMA crm;
    CREATE TABLE crm.customers (id bigint PRIMARY KEY);
    INSERT INTO crm.customers SELECT generate_series(1, 40);
    CREATE TABLE public.users (id bigint PRIMARY KEY, name text, email text, score int);
    CREATE TABLE app.users (id bigint PRIMARY KEY, name text, email text, score int);
    CREATE INDEX users_email_idx ON public.users (email);
    CREATE INDEX users_email_idx ON app.users (email);
    INSERT INTO public.users SELECT g, 'public ' || g, 'P' || g || '@X', g FROM generate_series(1, 40) g;
    INSERT INTO app.users SELECT g, CASE WHEN g % 5 <> 0 THEN 'app ' || g END, 'A' || g || '@X', g \
        FROM generate_series(1, 40) g;";

/// Everything a schema holds, one line per object, and the rows of its tables (as JSON,
/// which ignores the column order a reverted swap changes): what a migration may change in
/// `app` and must not change in `public`.
fn schema_state(client: &mut Client, schema: &str) -> Vec<String> {
    let mut lines: Vec<String> = client
        .query(
            "SELECT format('relation %s %s', c.relkind, c.relname) FROM pg_class c \
                 WHERE c.relnamespace = $1::text::regnamespace \
             UNION ALL SELECT format('column %s.%s %s not null %s default %s', c.relname, a.attname, \
                 format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'v') \
                   AND a.attnum > 0 AND NOT a.attisdropped \
             UNION ALL SELECT format('index %s valid %s: %s', c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid)) \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = $1::text::regnamespace \
             UNION ALL SELECT format('constraint %s of %s valid %s: %s', k.conname, c.relname, k.convalidated, \
                 pg_get_constraintdef(k.oid)) \
                 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = $1::text::regnamespace \
             UNION ALL SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t \
                 JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::text::regnamespace AND NOT t.tgisinternal \
             UNION ALL SELECT format('function %s', p.proname) FROM pg_proc p WHERE p.pronamespace = $1::text::regnamespace",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in tables {
        let rows: String = scalar(
            client,
            &format!("SELECT format('rows of %s: %s', {}, md5(coalesce(string_agg(to_jsonb(t)::text, ',' ORDER BY to_jsonb(t)::text), ''))) FROM {table} t",
                zdm_runtime::quote_literal(&table)),
        );
        lines.push(rows);
    }
    lines.sort();
    lines
}

/// The names of the functions of `schema`, leaving out those of extensions (pgcrypto on
/// PostgreSQL 12).
fn functions_in(client: &mut Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = $1::text::regnamespace \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                             AND d.objid = p.oid AND d.deptype = 'e') \
             ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Runs `migration` through contract and back, phase by phase, on a path without `app`;
/// `public` never changes, `app` is back as it was after the last reversal, and `at_contract`
/// checks what contract left in `app`.
fn cycle_in_app(test: &str, migration: &dyn Migration, at_contract: impl Fn(&mut Client)) {
    let db = TestDb::new(test);
    let mut client = db.connect();
    client.batch_execute(TWIN_TABLES).unwrap();
    let (public, app) = (
        schema_state(&mut client, "public"),
        schema_state(&mut client, "app"),
    );
    let mut runner = runner_with_path(&db, "public");
    for phase in [Phase::Expand, Phase::Sync, Phase::Backfill] {
        runner.run(migration, phase).unwrap();
        assert_eq!(
            schema_state(&mut client, "public"),
            public,
            "{phase:?} left public alone"
        );
    }
    runner.run(migration, Phase::Contract).unwrap();
    assert_eq!(
        schema_state(&mut client, "public"),
        public,
        "contract left public alone"
    );
    at_contract(&mut client);
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(migration, phase).unwrap();
        assert_eq!(
            schema_state(&mut client, "public"),
            public,
            "reverting {phase:?} left public alone"
        );
    }
    assert_eq!(
        schema_state(&mut client, "app"),
        app,
        "every reversal restored app"
    );
    assert_eq!(functions_in(&mut client, "app"), Vec::<String>::new());
}

#[test]
fn a_declared_schema_add_column_keeps_its_trigger_function_and_index_in_that_schema() {
    let db = TestDb::new("schemas_declared_add_column_sync");
    let mut client = db.connect();
    client.batch_execute(TWIN_TABLES).unwrap();
    let mut runner = runner_with_path(&db, "public");
    runner.run_to(&DeclaredAddColumn, Phase::Sync).unwrap();
    assert_eq!(
        functions_in(&mut client, "app"),
        ["zdm_sync_users_email_lower"],
        "the trigger function sits beside its table"
    );
    assert_eq!(functions_in(&mut client, "public"), Vec::<String>::new());
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT to_regclass('app.users_email_lower_idx')::text"
        ),
        "app.users_email_lower_idx"
    );
    // The application writes app.users through its own path; the trigger fills the copy.
    client
        .batch_execute("INSERT INTO app.users (id, name, email) VALUES (41, 'n', 'MiXeD@X')")
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email_lower FROM app.users WHERE id = 41"),
        "mixed@x"
    );
}

#[test]
fn a_declared_schema_add_column_runs_and_reverts_in_that_schema_alone() {
    cycle_in_app("schemas_declared_add_column", &DeclaredAddColumn, |client| {
        assert_eq!(
            scalar::<i64>(
                client,
                "SELECT count(*) FROM app.users WHERE email_lower = lower(email)"
            ),
            40
        );
        assert_eq!(
            functions_in(client, "app"),
            Vec::<String>::new(),
            "contract dropped the trigger function"
        );
    });
}

#[test]
fn a_declared_schema_rename_column_carries_the_index_of_that_schema() {
    cycle_in_app(
        "schemas_declared_rename_column",
        &DeclaredRenameColumn,
        |client| {
            assert_eq!(
                scalar::<String>(client, "SELECT pg_get_indexdef('app.users_email_idx'::regclass)"),
                "CREATE INDEX users_email_idx ON app.users USING btree (email_address)"
            );
        },
    );
}

#[test]
fn a_declared_schema_change_type_swaps_that_schema_column() {
    cycle_in_app("schemas_declared_change_type", &DeclaredChangeType, |client| {
        assert_eq!(
            scalar::<String>(
                client,
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                WHERE attrelid = 'app.users'::regclass AND attname = 'score'"
            ),
            "bigint"
        );
    });
}

#[test]
fn a_declared_schema_foreign_key_references_the_declared_referenced_schema() {
    cycle_in_app(
        "schemas_declared_add_foreign_key",
        &DeclaredAddForeignKey,
        |client| {
            assert_eq!(
                scalar::<String>(
                    client,
                    "SELECT confrelid::regclass::text FROM pg_constraint \
                WHERE conrelid = 'app.users'::regclass AND contype = 'f'"
                ),
                "crm.customers"
            );
        },
    );
}

#[test]
fn a_declared_schema_add_not_null_fills_that_schema_table() {
    cycle_in_app("schemas_declared_add_not_null", &DeclaredAddNotNull, |client| {
        assert_eq!(
            scalar::<i64>(client, "SELECT count(*) FROM app.users WHERE name = 'anonymous'"),
            8
        );
    });
}

#[test]
fn a_declared_schema_add_index_builds_in_that_schema() {
    cycle_in_app("schemas_declared_add_index", &DeclaredAddIndex, |client| {
        assert_eq!(
            scalar::<Option<String>>(client, "SELECT to_regclass('app.users_name_idx')::text"),
            Some("app.users_name_idx".to_owned())
        );
    });
}

#[test]
fn a_declared_schema_rename_table_renames_within_that_schema() {
    cycle_in_app("schemas_declared_rename_table", &DeclaredRenameTable, |client| {
        assert_eq!(
            scalar::<Option<String>>(client, "SELECT to_regclass('app.members')::text"),
            Some("app.members".to_owned())
        );
        assert_eq!(
            scalar::<Option<String>>(client, "SELECT to_regclass('public.members')::text"),
            None
        );
    });
}

#[test]
fn a_declared_schema_split_table_makes_its_new_tables_in_that_schema() {
    cycle_in_app("schemas_declared_split_table", &DeclaredSplitTable, |client| {
        assert_eq!(
            scalar::<i64>(
                client,
                "SELECT count(*) FROM app.user_names JOIN app.user_emails USING (id)"
            ),
            40
        );
        assert_eq!(
            scalar::<Option<String>>(client, "SELECT to_regclass('app.users')::text"),
            None,
            "contract dropped app.users"
        );
    });
}
