//! Faults against a real PostgreSQL: a lost connection mid-backfill, an INVALID index left
//! by a killed build, and names that would break unquoted SQL.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use zdm_runtime::{zero_downtime, BackfillRoute, BatchSize, Options, Phase, Runner};
use zdm_suite::{checksum, column, indexes, scalar, test_options, triggers, TestDb};

#[zero_downtime(
    id = "faults_score",
    add_column(
        table = "items",
        column = "score",
        ty = "bigint",
        backfill = "id * 3",
        not_null,
        index
    )
)]
struct AddScore;

/// Quotes, spaces, upper case and reserved words in every name.
#[zero_downtime(
    id = "faults_odd_names",
    add_column(
        table = "Order \"Items\"; DROP TABLE x",
        column = "select",
        ty = "text",
        backfill = "upper(\"From\")",
        not_null,
        index
    )
)]
struct OddNames;

fn items(db: &TestDb, rows: i64) {
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {rows}) g;
             CREATE TABLE visits (id bigint NOT NULL);
             CREATE FUNCTION log_visit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.score IS DISTINCT FROM OLD.score THEN INSERT INTO visits VALUES (NEW.id); END IF;
               PERFORM pg_sleep(0.0003);
               RETURN NEW;
             END $$;"
        ))
        .unwrap();
}

#[test]
fn a_connection_lost_mid_backfill_resumes_without_revisiting_rows() {
    let db = TestDb::new("faults_connection_lost");
    let rows = 6_000;
    items(&db, rows);
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(100),
        // The checkpoint is read back as a key below.
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TRIGGER log_visit AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION log_visit()",
        )
        .unwrap();
    let runner_pid: i32 = scalar(runner.client(), "SELECT pg_backend_pid()");

    let worker = std::thread::spawn(move || {
        let outcome = runner.run(&AddScore, Phase::Backfill).map(|_| ());
        (runner, outcome)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while scalar::<i64>(&mut client, "SELECT count(*) FROM visits") < rows / 3 {
        assert!(Instant::now() < deadline, "the backfill made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let terminated: bool = client
        .query_one("SELECT pg_terminate_backend($1)", &[&runner_pid])
        .unwrap()
        .get(0);
    assert!(terminated);
    let (mut killed, outcome) = worker.join().unwrap();
    let error = outcome.expect_err("the runner noticed its connection was gone");
    assert!(
        zdm_suite::lost_its_session(&mut killed, &error),
        "the backfill fails because its session is gone: {error}"
    );

    let mut runner = db.runner();
    let state = runner.state(&AddScore).unwrap();
    let cursor: i64 = state.cursor.expect("checkpoint")[0].parse().unwrap();
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM visits"), cursor);
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert!(report.resumed);
    runner.run(&AddScore, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score <> id * 3"),
        0
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM visits"), rows);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        rows
    );
}

#[test]
fn an_invalid_index_left_by_a_killed_build_is_dropped_and_rebuilt() {
    let db = TestDb::new("faults_invalid_index");
    items(&db, 200);
    let mut client = db.connect();
    let mut runner = db.runner();
    // As if a runner was killed during expand's index build: every step before it committed
    // (the build's index recorded as the next step) and the build left an INVALID index
    // under the planned name.
    client
        .batch_execute("ALTER TABLE items ADD COLUMN score bigint")
        .unwrap();
    let failed = client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY items_score_idx ON items ((score IS NULL))")
        .expect_err("the unique build fails on duplicates");
    assert_eq!(failed.code(), Some(&SqlState::UNIQUE_VIOLATION), "{failed}");
    assert_eq!(
        indexes(&mut client, "items")
            .iter()
            .find(|(name, ..)| name == "items_score_idx")
            .map(|(_, valid, _)| *valid),
        Some(false),
        "a failed concurrent build leaves an INVALID index"
    );
    let plan = zdm_runtime::Migration::plan(&AddScore);
    let build = plan
        .phase(Phase::Expand)
        .forward
        .iter()
        .position(|step| step.description.starts_with("build"));
    let build = i32::try_from(build.expect("expand builds the index")).unwrap();
    client
        .execute(
            "INSERT INTO zdm.migrations (id, operation, running, direction, step, plan_checksum) \
             VALUES ('faults_score', 'add_column', 'expand', 'run', $2, $1)",
            &[&plan.checksum(), &build],
        )
        .unwrap();
    let report = runner.run(&AddScore, Phase::Expand).unwrap();
    assert!(report.resumed);
    assert_eq!(report.steps.len(), 1, "only the index build was left to do");
    let index = indexes(&mut client, "items")
        .into_iter()
        .find(|(name, ..)| name == "items_score_idx");
    assert_eq!(
        index.map(|(_, valid, definition)| (valid, definition)),
        Some((
            true,
            "CREATE INDEX items_score_idx ON public.items USING btree (score)".to_owned()
        )),
        "the INVALID leftover was replaced by the planned index"
    );
}

#[test]
fn names_with_quotes_spaces_and_reserved_words_are_quoted_everywhere() {
    let db = TestDb::new("faults_odd_names");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE \"Order \"\"Items\"\"; DROP TABLE x\" (id int PRIMARY KEY, \"From\" text);
             CREATE TABLE x (id int);
             INSERT INTO \"Order \"\"Items\"\"; DROP TABLE x\" SELECT g, 'from ' || g FROM generate_series(1, 300) g;",
        )
        .unwrap();
    let table = "Order \"Items\"; DROP TABLE x";
    let before = checksum(&mut client, table);
    let mut runner: Runner = db.runner();
    for phase in Phase::ALL {
        runner.run(&OddNames, phase).unwrap();
    }
    let added = column(&mut client, table, "select").unwrap();
    assert!(added.not_null);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM \"Order \"\"Items\"\"; DROP TABLE x\" WHERE \"select\" = upper(\"From\")"
        ),
        300
    );
    assert!(
        scalar::<bool>(&mut client, "SELECT to_regclass('x') IS NOT NULL"),
        "table x survived"
    );
    assert!(triggers(&mut client, table).is_empty());
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&OddNames, phase).unwrap();
    }
    assert_eq!(checksum(&mut client, table), before);
}

#[test]
fn a_concurrent_build_waiting_on_an_old_transaction_names_it_and_leaves_no_invalid_index() {
    let db = TestDb::new("faults_index_waits");
    items(&db, 200);
    let mut client = db.connect();
    // A transaction that touches another table but holds a snapshot: CREATE INDEX
    // CONCURRENTLY waits for it to end before it can finish.
    let mut old = db.connect();
    let old_pid: i32 = scalar(&mut old, "SELECT pg_backend_pid()");
    let mut transaction = old
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    transaction.query("SELECT count(*) FROM visits", &[]).unwrap();

    let mut runner = db.runner_with(Options {
        lock_budget: Duration::from_millis(1_500),
        ..test_options()
    });
    let error = runner.run(&AddScore, Phase::Expand).unwrap_err();
    let message = error.to_string();
    match &error {
        zdm_runtime::Error::LockTimeout { blockers, .. } => {
            assert!(blockers.iter().any(|blocker| blocker.pid == old_pid), "{message}");
        }
        other => panic!("expected a lock timeout naming the old transaction, got {other}"),
    }
    assert!(
        message.contains("a snapshot older than the index build"),
        "{message}"
    );
    assert!(
        indexes(&mut client, "items")
            .iter()
            .all(|(name, ..)| name != "items_score_idx"),
        "the failed build's INVALID index was dropped"
    );
    transaction.rollback().unwrap();
    let report = runner.run(&AddScore, Phase::Expand).unwrap();
    assert!(report.resumed);
    assert!(indexes(&mut client, "items")
        .iter()
        .any(|(name, valid, _)| name == "items_score_idx" && *valid));
}
