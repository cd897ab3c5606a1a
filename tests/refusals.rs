//! What real tables carry that zdm cannot work around (no key to page by, row-level
//! security, partitions under an index build) is refused at expand before any change,
//! naming the table or the trigger; what it can work with (a unique index over NOT NULL
//! columns, a validation longer than the DDL timeout) works.

use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Options, Phase, Runner};
use zdm_suite::{scalar, sqlstate, table_catalog, test_options, TestDb};

#[zero_downtime(
    id = "keyless_add_column",
    add_column(
        table = "events",
        column = "doubled",
        ty = "bigint",
        backfill = "n * 2",
        not_null
    )
)]
struct AddDoubled;

#[zero_downtime(
    id = "keyless_rename",
    rename_column(table = "events", from = "n", to = "amount")
)]
struct RenameN;

#[zero_downtime(
    id = "verify_emails",
    add_column(
        table = "accounts",
        column = "email_verified",
        ty = "boolean",
        backfill = "false",
        not_null
    )
)]
struct VerifyEmails;

#[zero_downtime(
    id = "partitioned_add_column",
    add_column(table = "readings", column = "sensor", ty = "text", index)
)]
struct AddSensor;

#[zero_downtime(id = "partitioned_add_index", add_index(table = "readings", columns = ["at"]))]
struct IndexReadings;

/// Expand of `migration` by `runner` is refused with `reason`; `table` is as it was and
/// the migration has no state.
fn refused(runner: &mut Runner, client: &mut Client, migration: &dyn Migration, table: &str, reason: &str) {
    let before = table_catalog(client, table);
    let error = runner.run(migration, Phase::Expand).unwrap_err();
    assert!(
        matches!(&error, Error::Refused { before, .. } if before == "any change"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("{}: refused before any change: {reason}", migration.id())
    );
    assert_eq!(table_catalog(client, table), before);
    let state = runner.state(migration).unwrap();
    assert_eq!(
        (state.plan_checksum, state.completed, state.running),
        (None, None, None),
        "no state"
    );
}

fn events(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE events (code text UNIQUE, n bigint NOT NULL);
             CREATE UNIQUE INDEX events_positive_n ON events (n) WHERE n > 0;
             CREATE UNIQUE INDEX events_n_text ON events ((n::text));
             INSERT INTO events SELECT 'event ' || g, g FROM generate_series(1, 600) g;",
        )
        .unwrap();
    client
}

#[test]
fn a_table_without_a_key_to_page_by_is_refused_before_any_change() {
    let db = TestDb::new("refusals_no_key");
    // No key: a unique index over a column that accepts NULLs (NULLs repeat), a partial
    // one (rows outside it repeat), one over an expression (no column to compare).
    let mut client = events(&db);
    let mut runner = db.runner();
    let reason =
        "\"events\" has no primary key and no unique index over NOT NULL columns, which the backfill \
                  pages through the table by; add a primary key, or a unique index (CREATE UNIQUE INDEX \
                  CONCURRENTLY) whose columns are all NOT NULL";
    refused(&mut runner, &mut client, &AddDoubled, "events", reason);
    refused(&mut runner, &mut client, &RenameN, "events", reason);
}

#[test]
fn a_unique_index_over_not_null_columns_is_the_key_backfills_page_by() {
    let db = TestDb::new("refusals_unique_key");
    let mut client = events(&db);
    client
        .batch_execute("ALTER TABLE events ALTER COLUMN code SET NOT NULL")
        .unwrap();
    let mut runner = db.runner();
    runner.run_to(&AddDoubled, Phase::Contract).unwrap();
    runner.run_to(&RenameN, Phase::Contract).unwrap();
    let wrong: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM events WHERE doubled IS DISTINCT FROM amount * 2 \
         OR amount <> substr(code, 7)::bigint",
    );
    assert_eq!(wrong, 0);
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM events"), 600);
}

/// A database owned by `role`, a role of its own for the test (roles belong to the whole
/// cluster), with `accounts` made by it: 3,000 rows of three tenants.
fn accounts_owned_by(name: &str, role: &str) -> (TestDb, Client) {
    let db = TestDb::new(name);
    db.connect()
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role};
             CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS;
             ALTER DATABASE \"{}\" OWNER TO {role};
             GRANT CREATE ON SCHEMA public TO {role};",
            db.name()
        ))
        .unwrap();
    let mut client = db.connect_as(role);
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, tenant int NOT NULL, email text);
             INSERT INTO accounts SELECT g, g % 3, 'user' || g || '@example.com' FROM generate_series(1, 3000) g;",
        )
        .unwrap();
    (db, client)
}

const FORCE_POLICY: &str = "ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
     ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
     CREATE POLICY tenant_one ON accounts USING (tenant = 1);";

#[test]
fn row_level_security_that_would_hide_rows_is_refused_before_any_change() {
    let role = "zdm_refusals_rls";
    let (db, mut client) = accounts_owned_by("refusals_rls", role);
    client.batch_execute(FORCE_POLICY).unwrap();
    let mut runner = Runner::new(db.connect_as(role), test_options()).unwrap();
    refused(
        &mut runner,
        &mut client,
        &VerifyEmails,
        "accounts",
        "row-level security on \"accounts\" applies to this role, so a backfill or data check would see only \
         the rows its policies (tenant_one) let it see and report done over the rest; run zdm as a role with \
         BYPASSRLS, or as the table's owner with row-level security not forced (ALTER TABLE … NO FORCE ROW \
         LEVEL SECURITY)",
    );

    // Not forced, the owner sees every row, and every row is filled.
    client
        .batch_execute("ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY")
        .unwrap();
    runner.run_to(&VerifyEmails, Phase::Contract).unwrap();
    let unfilled: i64 = scalar(
        &mut db.connect(),
        "SELECT count(*) FROM accounts WHERE email_verified IS DISTINCT FROM false",
    );
    assert_eq!(unfilled, 0);
}

#[test]
fn a_policy_made_after_expand_stops_the_backfill_instead_of_hiding_rows() {
    let role = "zdm_refusals_rls_later";
    let (db, mut client) = accounts_owned_by("refusals_rls_later", role);
    let mut runner = Runner::new(db.connect_as(role), test_options()).unwrap();
    runner.run_to(&VerifyEmails, Phase::Sync).unwrap();
    client.batch_execute(FORCE_POLICY).unwrap();
    let error = runner.run(&VerifyEmails, Phase::Backfill).unwrap_err();
    assert_eq!(
        sqlstate(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
    let filled: i64 = scalar(
        &mut db.connect(),
        "SELECT count(*) FROM accounts WHERE email_verified IS NOT NULL",
    );
    assert_eq!(filled, 0);
}

#[test]
fn an_index_build_on_a_partitioned_table_is_refused_before_any_change() {
    let db = TestDb::new("refusals_partitioned_index");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE readings (id bigint, at date, value numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
             CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
             CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
             INSERT INTO readings SELECT g, date '2025-06-01' + g, g FROM generate_series(1, 400) g;",
        )
        .unwrap();
    let mut runner = db.runner();
    let reason = |index: &str| {
        format!(
            "\"readings\" is partitioned, and PostgreSQL cannot build the index \"{index}\" on a partitioned \
             table concurrently; declare the change without the index and build it yourself without \
             blocking writes: CREATE INDEX … ON ONLY \"readings\", CREATE INDEX CONCURRENTLY on each \
             partition, and ALTER INDEX … ATTACH PARTITION for each"
        )
    };
    refused(
        &mut runner,
        &mut client,
        &AddSensor,
        "readings",
        &reason("readings_sensor_idx"),
    );
    refused(
        &mut runner,
        &mut client,
        &IndexReadings,
        "readings",
        &reason("readings_at_idx"),
    );
}

#[zero_downtime(
    id = "rename_email",
    rename_column(table = "users", from = "email", to = "email_addr")
)]
struct RenameEmail;

#[zero_downtime(
    id = "rename_email_checked",
    rename_column(table = "users", from = "email", to = "email_addr", triggers_checked)
)]
struct RenameEmailChecked;

#[zero_downtime(
    id = "widen_email",
    change_type(table = "users", column = "email", to = "varchar(320)")
)]
struct WidenEmail;

/// `users` with the triggers a team has in its first week: one that normalizes `email`,
/// one that bumps `updated_at` and does not mention `email`.
fn users(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text, updated_at timestamptz);
             INSERT INTO users SELECT g, 'User' || g || '@Example.com', now() FROM generate_series(1, 300) g;
             CREATE FUNCTION normalize_email() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN NEW.email := lower(NEW.email); RETURN NEW; END $$;
             CREATE TRIGGER lower_email BEFORE INSERT OR UPDATE ON users \
                 FOR EACH ROW EXECUTE FUNCTION normalize_email();
             CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
             CREATE TRIGGER set_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
        )
        .unwrap();
    client
}

#[test]
fn a_row_trigger_whose_function_mentions_the_column_is_refused_before_any_change() {
    let db = TestDb::new("refusals_user_trigger");
    let mut client = users(&db);
    let mut runner = db.runner();
    let reason = |after: &str| {
        format!(
            "\"users\".\"email\" cannot be carried to \"{}\" safely:\n  - the trigger lower_email runs \
             normalize_email(), whose body mentions \"email\": the backfill fires it on every row, and zdm \
             cannot tell whether it keeps both columns alike, nor whether it still works once contract {after}; \
             check the function (and change it if needed), then declare `triggers_checked`",
            if after.starts_with("drops") { "email_addr" } else { "email_zdm_new" }
        )
    };
    refused(
        &mut runner,
        &mut client,
        &RenameEmail,
        "users",
        &reason("drops \"email\""),
    );
    refused(
        &mut runner,
        &mut client,
        &WidenEmail,
        "users",
        &reason("swaps in the new \"email\""),
    );

    // Declared checked, the rename goes ahead.
    runner.run(&RenameEmailChecked, Phase::Expand).unwrap();
}

#[zero_downtime(
    id = "rename_checked_code",
    rename_column(table = "codes", from = "code", to = "label")
)]
struct RenameCode;

/// `codes`, whose CHECK takes 0.2 s a row while a `VALIDATE CONSTRAINT` runs (read from
/// the session's current query) and no time otherwise: ten rows make a validation of 2 s.
fn codes(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE FUNCTION slow_when_validating(value text) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$ \
             BEGIN \
                 IF current_query() ~* 'validate constraint' THEN PERFORM pg_sleep(0.2); END IF; \
                 RETURN value <> ''; \
             END $$;
             CREATE TABLE codes (id bigint PRIMARY KEY, code text CONSTRAINT code_set CHECK (slow_when_validating(code)));
             INSERT INTO codes SELECT g, 'code ' || g FROM generate_series(1, 10) g;",
        )
        .unwrap();
    client
}

#[test]
fn validation_runs_under_the_scan_timeout_not_the_one_that_bounds_ddl() {
    let db = TestDb::new("refusals_scan_timeout");
    let mut client = codes(&db);
    db.runner_with(Options {
        statement_timeout: Duration::from_millis(500),
        ..test_options()
    })
    .run_to(&RenameCode, Phase::Contract)
    .unwrap();
    let valid: bool = scalar(
        &mut client,
        "SELECT convalidated FROM pg_constraint WHERE conrelid = 'codes'::regclass AND conname = 'code_set'",
    );
    assert!(valid);
}

#[test]
fn a_scan_timeout_given_bounds_validation() {
    let db = TestDb::new("refusals_scan_timeout_given");
    let _client = codes(&db);
    // DDL may take a minute here: only the scan timeout can stop the validation.
    let mut runner = db.runner_with(Options {
        scan_timeout: Some(Duration::from_millis(500)),
        ..test_options()
    });
    runner.run_to(&RenameCode, Phase::Backfill).unwrap();
    let error = runner.run(&RenameCode, Phase::Contract).unwrap_err();
    assert_eq!(sqlstate(&error), Some(&SqlState::QUERY_CANCELED), "{error}");
}

#[test]
fn skipping_user_triggers_is_refused_before_any_change_where_the_role_may_not() {
    let role = "zdm_refusals_replica";
    let (db, mut client) = accounts_owned_by("refusals_replica", role);
    let options = Options {
        skip_user_triggers: true,
        ..test_options()
    };
    let mut runner = Runner::new(db.connect_as(role), options).unwrap();
    refused(
        &mut runner,
        &mut client,
        &VerifyEmails,
        "accounts",
        "`skip_user_triggers` runs the backfill with session_replication_role = replica, which this role may \
         not set (a superuser may, and from PostgreSQL 15 a role granted SET ON PARAMETER \
         session_replication_role); grant it, or run without `skip_user_triggers`, and the backfill fires the \
         tables' own triggers for every row it writes",
    );
}

#[zero_downtime(
    id = "accounts_tenant_fk",
    add_foreign_key(
        table = "accounts",
        column = "tenant",
        references = "tenants",
        existing_column
    )
)]
struct AccountsTenant;

#[test]
fn row_level_security_on_the_referenced_table_is_refused_before_any_change() {
    let role = "zdm_refusals_rls_referenced";
    let (db, mut client) = accounts_owned_by("refusals_rls_referenced", role);
    client
        .batch_execute(
            "CREATE TABLE tenants (id int PRIMARY KEY);
             INSERT INTO tenants VALUES (0), (1), (2);
             ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
             ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_zero ON tenants USING (id = 0);",
        )
        .unwrap();
    let mut runner = Runner::new(db.connect_as(role), test_options()).unwrap();
    refused(
        &mut runner,
        &mut client,
        &AccountsTenant,
        "accounts",
        "row-level security on \"tenants\" applies to this role, so a backfill or data check would see only \
         the rows its policies (tenant_zero) let it see and report done over the rest; run zdm as a role with \
         BYPASSRLS, or as the table's owner with row-level security not forced (ALTER TABLE … NO FORCE ROW \
         LEVEL SECURITY)",
    );
}

#[test]
fn a_trigger_whose_update_of_names_the_column_is_refused_even_when_checked() {
    let db = TestDb::new("refusals_update_of_trigger");
    let mut client = users(&db);
    client
        .batch_execute(
            "CREATE TRIGGER audit_email AFTER UPDATE OF email ON users FOR EACH ROW EXECUTE FUNCTION touch()",
        )
        .unwrap();
    refused(
        &mut db.runner(),
        &mut client,
        &RenameEmailChecked,
        "users",
        "\"users\".\"email\" cannot be carried to \"email_addr\" safely:\n  - trigger audit_email on table users \
         fires on \"email\" (UPDATE OF or WHEN); drop it and re-create it over the new column",
    );
}

#[zero_downtime(id = "drop_note_column", drop_column(table = "notes", column = "note"))]
struct DropNote;

#[zero_downtime(
    id = "drop_note_checked",
    drop_column(table = "notes", column = "note", triggers_checked)
)]
struct DropNoteChecked;

/// A row trigger whose function names the dropped column would fail every write once
/// contract hides it; the catalog does not record what a function body reads, so the body
/// is searched for the name as a word. Refused at expand, naming the trigger and its
/// function, and again at contract for one made since; `triggers_checked` lets it through.
#[test]
fn drop_column_refuses_a_trigger_whose_function_names_the_column() {
    let db = TestDb::new("drop_column_trigger_refusal");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE notes (id bigserial PRIMARY KEY, note text, note_length integer);
             INSERT INTO notes (note) VALUES ('a'), ('bb');
             CREATE FUNCTION count_note_length() RETURNS trigger LANGUAGE plpgsql AS
               $$BEGIN NEW.note_length := 0; RETURN NEW; END$$;
             CREATE TRIGGER count_length BEFORE INSERT ON notes
               FOR EACH ROW EXECUTE FUNCTION count_note_length();",
        )
        .unwrap();
    // `note_length` is another word: that trigger is no obstacle.
    db.runner().run(&DropNote, Phase::Expand).unwrap();
    db.runner().revert(&DropNote, Phase::Expand).unwrap();

    client
        .batch_execute(
            "CREATE FUNCTION trim_note() RETURNS trigger LANGUAGE plpgsql AS
               $$BEGIN NEW.Note := btrim(NEW.Note); RETURN NEW; END$$;
             CREATE TRIGGER trim_it BEFORE INSERT OR UPDATE ON notes
               FOR EACH ROW EXECUTE FUNCTION trim_note();",
        )
        .unwrap();
    let before = table_catalog(&mut client, "notes");
    let error = db.runner().run(&DropNote, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "drop_note_column: expand refused before any lock-heavy step: expected no row trigger whose function \
         mentions \"notes\".\"note\", found 1 offending row(s); for example:\n  the trigger trim_it runs \
         trim_note(), whose body mentions note: once contract hides the column, a function still naming it \
         fails every write; check the function (and change it if needed), then declare `triggers_checked`"
    );
    assert_eq!(table_catalog(&mut client, "notes"), before);
    let version_schema: bool = scalar(
        &mut client,
        &format!("SELECT to_regnamespace('{}') IS NULL", DropNote::VERSION_SCHEMA),
    );
    assert!(version_schema, "no version schema made");

    // Made after expand: contract refuses it before hiding the column.
    client.batch_execute("DROP TRIGGER trim_it ON notes").unwrap();
    let mut runner = db.runner();
    for phase in [Phase::Expand, Phase::Sync, Phase::Backfill] {
        runner.run(&DropNote, phase).unwrap();
    }
    client
        .batch_execute(
            "CREATE TRIGGER trim_it BEFORE INSERT OR UPDATE ON notes
               FOR EACH ROW EXECUTE FUNCTION trim_note();",
        )
        .unwrap();
    let error = runner.run(&DropNote, Phase::Contract).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "drop_note_column: contract refused before any lock-heavy step: expected no row trigger"
        ),
        "{error}"
    );
    let columns: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attname = 'note'",
    );
    assert_eq!(columns, 1, "the column is still there under its name");

    // Declared as checked (the user changes the function before contract): it goes through.
    let db = TestDb::new("drop_column_trigger_checked");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE notes (id bigserial PRIMARY KEY, note text);
             CREATE FUNCTION trim_note() RETURNS trigger LANGUAGE plpgsql AS
               $$BEGIN NEW.note := btrim(NEW.note); RETURN NEW; END$$;
             CREATE TRIGGER trim_it BEFORE INSERT OR UPDATE ON notes
               FOR EACH ROW EXECUTE FUNCTION trim_note();",
        )
        .unwrap();
    let mut checked = db.runner();
    for phase in [Phase::Expand, Phase::Sync, Phase::Backfill, Phase::Contract] {
        checked.run(&DropNoteChecked, phase).unwrap();
    }
}
