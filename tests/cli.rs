//! The CLI as an operator runs it: the `add_column` example's binary as a child process
//! against a real PostgreSQL, its output and exit codes checked.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use zdm_suite::{checksum, column, scalar, table_catalog, triggers, TestDb};

/// The example binary, built once if `cargo test` did not build examples (for example
/// when only this test file runs).
fn example_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_example("add_column")).clone()
}

/// Builds the example `name` and gives its path.
fn build_example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let binary = deps.parent().unwrap().join("examples").join(name);
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building the {name} example");
    binary
}

fn zdm(url: &str, args: &[&str]) -> Output {
    zdm_with_env(url, args, &[])
}

fn zdm_with_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(example_binary())
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .env_remove("ZDM_STATE_SCHEMA")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
/// Runs an example's CLI against the test database, with the state schema and logging
/// left to their defaults.
fn run_example(binary: &PathBuf, db: &TestDb, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("RUST_LOG")
        .env_remove("ZDM_STATE_SCHEMA")
        .output()
        .unwrap()
}

/// The table of the change_column_type example, with 50 rows.
fn invoices(db: &TestDb) {
    db.connect()
        .batch_execute(
            "CREATE TABLE example_invoices (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0, note varchar(50));
             INSERT INTO example_invoices SELECT g, g, 'n' FROM generate_series(1, 50) g;",
        )
        .unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const EMAIL: &str = "2026_11_27_01_email_lower";
const TOKEN: &str = "2026_11_27_02_api_token";

fn demo_table(db: &TestDb) {
    db.connect()
        .batch_execute(
            "CREATE TABLE add_column_demo (id bigint PRIMARY KEY, email text NOT NULL);
             INSERT INTO add_column_demo SELECT g, 'A' || g || '@X.COM' FROM generate_series(1, 500) g;",
        )
        .unwrap();
}

#[test]
fn plan_prints_every_phase_without_a_database() {
    let output = zdm("postgres://nobody@127.0.0.1:1/none", &["plan", TOKEN]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "2026_11_27_02_api_token (add_column)",
        "expand: add the nullable column",
        "ALTER TABLE \"add_column_demo\" ADD COLUMN \"api_token\" uuid",
        "[ACCESS EXCLUSIVE, in a transaction]",
        "revert backfill:",
        "VALIDATE CONSTRAINT \"zdm_add_column_demo_api_token_nn\"",
        "[SHARE UPDATE EXCLUSIVE, in a transaction]",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let all = stdout(&zdm("postgres://nobody@127.0.0.1:1/none", &["plan"]));
    assert!(
        all.contains(EMAIL) && all.contains("[SHARE UPDATE EXCLUSIVE, outside a transaction]"),
        "{all}"
    );
}

#[test]
fn status_json_follows_the_phases() {
    let db = TestDb::new("cli_status_json");
    demo_table(&db);
    let status = |db: &TestDb| -> serde_json::Value {
        let output = zdm(db.url(), &["status", "--json"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let before = status(&db);
    assert_eq!(before["migrations"][0]["id"], EMAIL);
    assert_eq!(before["migrations"][0]["completed"], serde_json::Value::Null);
    assert_eq!(before["migrations"][0]["next"], "expand");
    // status only reads: the zdm schema is not created by it.
    assert!(!scalar::<bool>(
        &mut db.connect(),
        "SELECT to_regclass('zdm.migrations') IS NOT NULL"
    ));

    let output = zdm(db.url(), &["expand", EMAIL]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("expand (5 steps"), "{}", stdout(&output));
    let output = zdm(db.url(), &["up", EMAIL, "--to", "backfill"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let after = status(&db);
    assert_eq!(after["migrations"][0]["completed"], "backfill");
    assert_eq!(after["migrations"][0]["next"], "contract");
    assert_eq!(after["migrations"][1]["completed"], serde_json::Value::Null);
    assert_eq!(
        scalar::<i64>(
            &mut db.connect(),
            "SELECT count(email_lower) FROM add_column_demo"
        ),
        500
    );

    let table = stdout(&zdm(db.url(), &["status"]));
    assert!(table.contains("next: contract"), "{table}");
}

#[test]
fn the_state_schema_comes_from_the_flag_or_the_environment() {
    let db = TestDb::new("cli_state_schema");
    demo_table(&db);
    let output = zdm(
        db.url(),
        &["up", EMAIL, "--to", "expand", "--state-schema", "cli_state"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut client = db.connect();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT string_agg(id || ' ' || completed, ',') FROM cli_state.migrations"
        ),
        format!("{EMAIL} expand")
    );
    assert!(scalar::<bool>(
        &mut client,
        "SELECT to_regnamespace('zdm') IS NULL"
    ));
    let status = |env: &[(&str, &str)]| -> serde_json::Value {
        let output = zdm_with_env(db.url(), &["status", "--json"], env);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    assert_eq!(
        status(&[("ZDM_STATE_SCHEMA", "cli_state")])["migrations"][0]["completed"],
        "expand"
    );
    // The default schema holds nothing, and reading it makes nothing.
    assert_eq!(status(&[])["migrations"][0]["completed"], serde_json::Value::Null);
    assert!(scalar::<bool>(
        &mut client,
        "SELECT to_regnamespace('zdm') IS NULL"
    ));

    let output = zdm(db.url(), &["status", "--state-schema", ""]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "zdm cannot set up its state schema: the configured state schema name \"\" is 0 bytes long; \
             PostgreSQL names are 1 to 63 bytes"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn dry_run_changes_nothing() {
    let db = TestDb::new("cli_dry_run");
    demo_table(&db);
    let mut client = db.connect();
    // Columns, indexes, constraints, trigger definitions, every function, and the rows.
    let table = |client: &mut postgres::Client| {
        (
            table_catalog(client, "add_column_demo"),
            checksum(client, "add_column_demo"),
        )
    };
    let table_before = table(&mut client);
    // The options of the run are accepted beside it.
    let output = zdm(
        db.url(),
        &["up", "--dry-run", "--scan-timeout", "30m", "--skip-user-triggers"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains(&format!("would run expand of {EMAIL}")), "{text}");
    assert!(text.contains(&format!("would run contract of {TOKEN}")), "{text}");
    assert!(text.contains("dry run: nothing was changed"), "{text}");
    assert_eq!(table(&mut client), table_before);
    assert!(!scalar::<bool>(
        &mut client,
        "SELECT to_regclass('zdm.migrations') IS NOT NULL"
    ));

    let output = zdm(db.url(), &["up", EMAIL, "--to", "sync"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // What the dry-run reversal must leave alone: the sync's triggers and function too.
    assert!(!triggers(&mut client, "add_column_demo").is_empty());
    let state_before: String = scalar(
        &mut client,
        "SELECT string_agg(m::text, ',') FROM zdm.migrations m",
    );
    let table_before = table(&mut client);
    let output = zdm(
        db.url(),
        &[
            "revert",
            EMAIL,
            "--to",
            "pending",
            "--dry-run",
            "--allow-data-loss",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("would revert sync"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT string_agg(m::text, ',') FROM zdm.migrations m"
        ),
        state_before
    );
    assert_eq!(table(&mut client), table_before);
    assert!(column(&mut client, "add_column_demo", "email_lower").is_some());
}

#[test]
fn exit_codes_tell_refusals_apart() {
    let db = TestDb::new("cli_exit_codes");
    demo_table(&db);
    // Usage: an unknown id, an unknown flag.
    let output = zdm(db.url(), &["expand", "no_such_id"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no migration has the id `no_such_id`; known ids: 2026_11_27_01"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        zdm(db.url(), &["expand", EMAIL, "--no-such-flag"]).status.code(),
        Some(2)
    );

    // Refused: out of order.
    let output = zdm(db.url(), &["contract", EMAIL]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("backfill must complete first"),
        "{}",
        stderr(&output)
    );

    // Refused: a reversal that discards data needs the flag.
    zdm(db.url(), &["expand", EMAIL]);
    let output = zdm(db.url(), &["revert", EMAIL]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("reverting expand discards every value written to"),
        "{}",
        stderr(&output)
    );
    assert!(column(&mut db.connect(), "add_column_demo", "email_lower").is_some());
    let output = zdm(db.url(), &["revert", EMAIL, "--allow-data-loss"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(column(&mut db.connect(), "add_column_demo", "email_lower").is_none());

    // Precondition: a NULL left before NOT NULL.
    zdm(db.url(), &["up", EMAIL, "--to", "backfill"]);
    db.connect()
        .batch_execute("UPDATE add_column_demo SET email_lower = NULL WHERE id = 3")
        .unwrap();
    let output = zdm(db.url(), &["contract", EMAIL]);
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("found 1 offending row(s)"),
        "{}",
        stderr(&output)
    );

    // No server.
    let output = zdm("postgres://postgres@127.0.0.1:1/none", &["status"]);
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(stderr(&output).lines().count(), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot connect to PostgreSQL at 127.0.0.1:1/none"));

    // A server that answers and refuses: one line, no advice to look for another server.
    let missing = db.url().replace(db.name(), "zdm_cli_no_such_database");
    let output = zdm(&missing, &["status"]);
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("(SQLSTATE 3D000)"),
        "{}",
        stderr(&output)
    );
}

/// `status | head -1`: the reader goes away before zdm is done writing. A pipe whose read
/// end is already closed makes every write fail, so no timing is involved.
#[test]
fn a_closed_stdout_is_no_panic() {
    let db = TestDb::new("cli_closed_stdout");
    demo_table(&db);
    for args in [&["status"][..], &["plan"], &["up", EMAIL, "--to", "expand"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(example_binary())
            .args(args)
            .env("DATABASE_URL", db.url())
            .env_remove("RUST_LOG")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        assert!(
            !stderr(&output).contains("panicked"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("error"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // The work went on without its output.
    assert!(column(&mut db.connect(), "add_column_demo", "email_lower").is_some());
}

#[test]
fn a_lock_timeout_names_the_blocking_pid() {
    let db = TestDb::new("cli_lock_timeout");
    demo_table(&db);
    let mut blocker = db.connect();
    let pid: i32 = scalar(&mut blocker, "SELECT pg_backend_pid()");
    let mut transaction = blocker.transaction().unwrap();
    transaction
        .batch_execute("SELECT count(*) FROM add_column_demo")
        .unwrap();
    let output = zdm(
        db.url(),
        &["expand", EMAIL, "--lock-timeout", "100ms", "--lock-budget", "1s"],
    );
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let text = stderr(&output);
    // Each retry is logged with the blocker, and the final error names it.
    assert!(
        text.contains("timed out waiting for its lock (attempt 1)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pid {pid} (idle in transaction, AccessShareLock held")),
        "{text}"
    );
    assert!(text.contains("SELECT count(*) FROM add_column_demo"), "{text}");
    transaction.rollback().unwrap();
}

/// The version schemas from the command line: `search-path` (no database), `status --json`,
/// and a reversal of sync refused until `--new-version-stopped` says the new version stopped.
#[test]
fn version_schemas_from_the_command_line() {
    let db = TestDb::new("cli_version_schemas");
    let binary = build_example("change_column_type");
    let run = |args: &[&str]| run_example(&binary, &db, args);
    let output = run(&["search-path"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "zdm_v_example_invoice_note_wider, zdm_v_example_invoice_amount_numeric\n"
    );
    invoices(&db);
    let id = "example_invoice_amount_numeric";
    let output = run(&["up", id, "--to", "sync"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let status: serde_json::Value = serde_json::from_str(&stdout(&run(&["status", "--json"]))).unwrap();
    assert_eq!(
        status["migrations"][0]["version_schema"],
        "zdm_v_example_invoice_amount_numeric"
    );
    assert_eq!(
        status["search_path"],
        "zdm_v_example_invoice_note_wider, zdm_v_example_invoice_amount_numeric"
    );
    let output = run(&["revert", id]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "reverting sync stops copying what the new version writes through the version schema to the columns \
             the old version reads; stop every application version with zdm_v_example_invoice_amount_numeric on \
             its search_path, then revert with --new-version-stopped"
        ),
        "{}",
        stderr(&output)
    );
    let output = run(&[
        "revert",
        id,
        "--to",
        "pending",
        "--allow-data-loss",
        "--new-version-stopped",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(scalar::<bool>(
        &mut db.connect(),
        "SELECT to_regnamespace('zdm_v_example_invoice_amount_numeric') IS NULL"
    ));
}

/// `drop-version-schema`: refused before contract has completed, `--dry-run` changes
/// nothing, then the schema and its views are gone, a second run finds nothing, and the
/// contract's reversal, which would give the tables the old shape under a new version that
/// no longer has its view, waits for `--new-version-stopped`.
#[test]
fn drop_version_schema_after_contract() {
    let db = TestDb::new("cli_drop_version_schema");
    let binary = build_example("change_column_type");
    let run = |args: &[&str]| run_example(&binary, &db, args);
    invoices(&db);
    let id = "example_invoice_amount_numeric";
    let views = |db: &TestDb| {
        scalar::<i64>(
            &mut db.connect(),
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'zdm_v_example_invoice_amount_numeric'",
        )
    };
    let output = run(&["up", id, "--to", "backfill"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(&["drop-version-schema", id]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "example_invoice_amount_numeric: cannot drop the version schema: the new version reads and writes \
             through it until contract has completed"
        ),
        "{}",
        stderr(&output)
    );
    assert_eq!(views(&db), 1);
    let output = run(&["up", id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(&["--dry-run", "drop-version-schema", id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "example_invoice_amount_numeric: would drop the version schema zdm_v_example_invoice_amount_numeric and its views\n"
    );
    assert_eq!(views(&db), 1);
    let output = run(&["drop-version-schema", id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "example_invoice_amount_numeric: dropped the version schema zdm_v_example_invoice_amount_numeric\n"
    );
    assert!(scalar::<bool>(
        &mut db.connect(),
        "SELECT to_regnamespace('zdm_v_example_invoice_amount_numeric') IS NULL"
    ));
    let output = run(&["drop-version-schema", id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "example_invoice_amount_numeric: the version schema zdm_v_example_invoice_amount_numeric has no views; \
         nothing to drop\n"
    );
    let output = run(&["revert", id, "--allow-data-loss"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "reverting contract gives the tables the old shape, and zdm_v_example_invoice_amount_numeric, through \
             which the new version would keep its shape, has no views; stop every application version of the new \
             shape, then revert with --new-version-stopped"
        ),
        "{}",
        stderr(&output)
    );
    let output = run(&["revert", id, "--allow-data-loss", "--new-version-stopped"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        scalar::<String>(
            &mut db.connect(),
            "SELECT data_type::text FROM information_schema.columns \
             WHERE table_name = 'example_invoices' AND column_name = 'amount'"
        ),
        "integer"
    );
}

/// `ready`, for a deploy pipeline: exit code 7 with the message of `check_ready`, naming
/// the first migration of the list whose expand has not completed and its version schema,
/// until every one has; then 0 with the search path. After the contract and
/// `drop-version-schema` it stays ready.
#[test]
fn ready_waits_for_every_expand() {
    let db = TestDb::new("cli_ready");
    let binary = build_example("change_column_type");
    let run = |args: &[&str]| run_example(&binary, &db, args);
    invoices(&db);
    let refused = |id: &str| {
        format!(
            "error: {id}: expand has not completed, so the version schema zdm_v_{id} does not exist and an \
             application version with it on its search_path would find the tables in their old shape; complete \
             expand (`up {id} --to expand`) before starting that version\n"
        )
    };
    let output = run(&["ready"]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(stderr(&output), refused("example_invoice_amount_numeric"));
    assert_eq!(
        run(&["up", "example_invoice_amount_numeric", "--to", "expand"])
            .status
            .code(),
        Some(0)
    );
    let output = run(&["ready"]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(stderr(&output), refused("example_invoice_note_wider"));
    assert_eq!(run(&["up", "--to", "expand"]).status.code(), Some(0));
    let ready = "ready: every migration has completed expand; version schemas for the search path: \
                 zdm_v_example_invoice_note_wider, zdm_v_example_invoice_amount_numeric\n";
    let output = run(&["ready"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), ready);
    assert_eq!(run(&["up"]).status.code(), Some(0));
    let output = run(&["drop-version-schema", "example_invoice_amount_numeric"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(&["ready"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), ready);
}
