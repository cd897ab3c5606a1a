//! The backfill's routes and pacing against a real PostgreSQL: heap-page batches when
//! chosen on 14+ (the primary key otherwise), resume from a page checkpoint, the vacuum
//! between batches that keeps the table near its size, and batches that shrink when an
//! application write waited behind one.

use postgres::Client;
use std::sync::{Arc, Mutex};

use zdm_runtime::{zero_downtime, BackfillRoute, BatchSize, Event, Options, Phase, Runner};
use zdm_suite::{scalar, server_version_num, test_options, TestDb};

#[zero_downtime(
    id = "backfill_score",
    add_column(table = "items", column = "score", ty = "bigint", backfill = "id * 3")
)]
struct AddScore;

const SETUP: &str = "CREATE TABLE items (id bigint PRIMARY KEY, label text);
     INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 6000) g;
     ANALYZE items;
     CREATE TABLE visits (id bigint NOT NULL);
     CREATE FUNCTION log_visit() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.score IS DISTINCT FROM OLD.score THEN INSERT INTO visits VALUES (NEW.id); END IF;
       RETURN NEW;
     END $$;
     CREATE TRIGGER log_visit AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION log_visit();";

/// Fails the batch that reaches row 4000, once: `zdm_test.fail` is cleared to let it pass.
const FAIL_ONCE: &str = "CREATE FUNCTION fail_at() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.id = 4000 AND NOT EXISTS (SELECT FROM passed) THEN
         RAISE EXCEPTION 'stopped at 4000';
       END IF;
       RETURN NEW;
     END $$;
     CREATE TABLE passed ();
     CREATE TRIGGER fail_at BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION fail_at();";

#[test]
fn heap_page_batches_checkpoint_a_page_and_resume_after_it() {
    let db = TestDb::new("backfill_heap_pages");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    client.batch_execute(FAIL_ONCE).unwrap();
    // The default route: heap pages on PostgreSQL 14 and later, the key before.
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(500),
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let error = runner.run(&AddScore, Phase::Backfill).unwrap_err();
    assert!(error.to_string().contains("stopped at 4000"), "{error}");

    let state = runner.state(&AddScore).unwrap();
    let cursor = state.cursor.expect("a checkpoint was written");
    if server_version_num(&mut client) >= 140000 {
        // One element more than the key's one column: a page, and the page of a row not
        // yet done.
        assert_eq!(cursor.len(), 2, "{cursor:?}");
        assert_eq!(cursor[0], "heap page");
        let page: i64 = cursor[1].parse().unwrap();
        let last_done: i64 = scalar(
            &mut client,
            "SELECT max((ctid::text::point)[0])::bigint FROM items WHERE id IN (SELECT id FROM visits)",
        );
        assert!(page > 0, "{cursor:?}");
        let first_left: i64 = scalar(
            &mut client,
            "SELECT min((ctid::text::point)[0])::bigint FROM items WHERE score IS NULL",
        );
        assert_eq!(first_left, page, "the checkpoint is the first page not done");
        assert!(last_done >= page, "updated rows moved past the checkpoint");
    } else {
        assert_eq!(cursor.len(), 1, "{cursor:?}");
    }
    let visits: i64 = scalar(&mut client, "SELECT count(*) FROM visits");
    assert_eq!(visits, state.rows_done);

    client.batch_execute("INSERT INTO passed DEFAULT VALUES").unwrap();
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert!(report.resumed);
    assert_eq!(report.steps[0].rows as i64, 6000 - visits);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        6000
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM visits"), 6000);
}

#[test]
fn a_backfill_resumes_by_the_route_it_started_with() {
    let db = TestDb::new("backfill_key_route");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    client.batch_execute(FAIL_ONCE).unwrap();
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(500),
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    runner.run(&AddScore, Phase::Backfill).unwrap_err();
    let state = runner.state(&AddScore).unwrap();
    assert_eq!(state.cursor, Some(vec!["3500".to_owned()]));
    assert_eq!(state.rows_done, 3500);

    client.batch_execute("INSERT INTO passed DEFAULT VALUES").unwrap();
    // A run resumes by the route it started with, whatever the options say now.
    drop(runner);
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(500),
        route: BackfillRoute::HeapPages,
        ..test_options()
    });
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert_eq!(report.steps[0].rows, 2500);
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM visits"), 6000);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        6000
    );
}

#[test]
fn a_vacuum_between_batches_keeps_the_table_near_its_size() {
    let db = TestDb::new("backfill_vacuum");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text) WITH (autovacuum_enabled = off);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 40000) g;",
        )
        .unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let before: i64 = scalar(&mut client, "SELECT pg_table_size('items')");
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(1000),
        vacuum_every_rows: 2_000,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let vacuums = Arc::new(Mutex::new(0));
    let count = vacuums.clone();
    runner.observe(move |event| {
        if let Event::BackfillVacuum { .. } = event {
            *count.lock().unwrap() += 1;
        }
    });
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert!(*vacuums.lock().unwrap() >= 10);
    let after: i64 = scalar(&mut client, "SELECT pg_table_size('items')");
    // A whole-table UPDATE leaves it twice its size; rows written into the space of the
    // rows the previous batches replaced leave it at most a few batches larger.
    assert!(
        (after as f64) < before as f64 * 1.4,
        "the table grew from {before} to {after} bytes"
    );
    let note = report.steps[0].note.as_deref().unwrap();
    assert!(
        note.starts_with("table ") && note.contains(" MB before, "),
        "{note}"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        40000
    );
}

#[test]
fn a_write_waiting_behind_a_batch_halves_the_next_batch() {
    let db = TestDb::new("backfill_held_write");
    let mut client = db.connect();
    // The first batch (rows 1 to 1000) sleeps at row 500, holding row 1 meanwhile.
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 6000) g;
             ANALYZE items;
             CREATE FUNCTION slow_at() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.id = 500 AND NEW.score IS NOT NULL THEN PERFORM pg_sleep(2); END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER slow_at BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION slow_at();",
        )
        .unwrap();
    let mut runner = db.runner_with(Options {
        // Far longer than any batch here: without a write held, each batch doubles.
        batch: BatchSize::Target(std::time::Duration::from_secs(30)),
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let runner_pid: i32 = scalar(runner.client(), "SELECT pg_backend_pid()");
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    runner.observe(move |event| {
        if let Event::BackfillProgress { batch_size, .. } = event {
            seen.lock().unwrap().push(*batch_size);
        }
    });
    let backfill = std::thread::spawn(move || runner.run(&AddScore, Phase::Backfill).map(drop));
    // The application writes row 1 while the first batch sleeps: it waits for the batch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep')",
            &[&runner_pid],
        )
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first batch never slept"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    client
        .execute("UPDATE items SET label = 'written' WHERE id = 1", &[])
        .unwrap();
    backfill.join().unwrap().unwrap();
    let sizes = sizes.lock().unwrap();
    assert_eq!(sizes[..2], [1000, 500], "{sizes:?}");
    // Then it grows back: no write waited behind the later batches.
    assert!(sizes[2] > 500, "{sizes:?}");
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
}

/// Lets the test's own connection stay idle for longer than the latency guard looks back
/// when a backfill starts (a second): a session that ran a statement within it is an
/// application running, beside which a heap-page backfill starts with one batch at a time.
fn no_application_running() {
    std::thread::sleep(std::time::Duration::from_millis(1_100));
}

/// `items` and `visits` (which records the writing backend) owned by a new `role`,
/// created with `role_options`, then `more` run as the test's superuser; and a runner
/// connected as `role`, with three heap-page batches of 500 rows whose workers connect as
/// `role` too.
fn runner_as_role(db: &TestDb, client: &mut Client, role: &str, role_options: &str, more: &str) -> Runner {
    client
        .batch_execute(&format!(
            "ALTER TABLE visits ADD COLUMN pid int NOT NULL DEFAULT pg_backend_pid();
             DROP ROLE IF EXISTS {role};
             CREATE ROLE {role} LOGIN NOSUPERUSER {role_options};
             GRANT CREATE ON DATABASE \"{db}\" TO {role};
             GRANT CREATE, USAGE ON SCHEMA public TO {role};
             ALTER TABLE items OWNER TO {role};
             ALTER TABLE visits OWNER TO {role};
             {more}",
            db = db.name()
        ))
        .unwrap();
    let mut runner = Runner::new(
        db.connect_as(role),
        Options {
            batch: BatchSize::Fixed(500),
            route: BackfillRoute::HeapPages,
            backfill_workers: 3,
            ..test_options()
        },
    )
    .unwrap();
    let separator = if db.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}user={role}", db.url());
    runner.connect_workers_with(move || zdm_runtime::connect(&url));
    runner
}

/// A role the commit-latency probe is not granted to (`pg_logical_emit_message`, revoked
/// in this database alone) still backfills on heap pages, one batch at a time.
#[test]
fn without_the_commit_probe_heap_page_batches_run_one_at_a_time() {
    let db = TestDb::new("backfill_unprobed");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    let mut runner = runner_as_role(
        &db,
        &mut client,
        "zdm_backfill_unprobed",
        "",
        "DO $$
         DECLARE f regprocedure;
         BEGIN
           FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = 'pg_logical_emit_message' LOOP
             EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
           END LOOP;
         END $$;",
    );
    runner.run_to(&AddScore, Phase::Backfill).unwrap();

    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT pid) FROM visits"),
        1,
        "only the runner's own connection wrote"
    );
}

/// A role allowed three connections (`CONNECTION LIMIT 3`): the runner's, the probe's and
/// one worker's. The second worker the server refuses is done without.
#[test]
fn workers_the_server_refuses_are_done_without() {
    let db = TestDb::new("backfill_few_connections");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    let mut runner = runner_as_role(
        &db,
        &mut client,
        "zdm_backfill_few_connections",
        "CONNECTION LIMIT 3",
        "",
    );
    no_application_running();
    runner.run_to(&AddScore, Phase::Backfill).unwrap();

    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
    // Before PostgreSQL 14 (no TID range scans) the backfill walks the key, one batch at
    // a time, and opens no worker.
    let writers = if server_version_num(&mut client) >= 140000 {
        2
    } else {
        1
    };
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT pid) FROM visits"),
        writers,
        "the runner's connection and the one worker the role could open wrote"
    );
}

#[test]
fn parallel_heap_page_batches_commit_in_page_order_and_resume_after_the_last_done() {
    let db = TestDb::new("backfill_parallel_pages");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    client.batch_execute(FAIL_ONCE).unwrap();
    // Which connection wrote each row.
    client
        .batch_execute("ALTER TABLE visits ADD COLUMN pid int NOT NULL DEFAULT pg_backend_pid()")
        .unwrap();
    no_application_running();
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(500),
        route: BackfillRoute::HeapPages,
        backfill_workers: 3,
        ..test_options()
    });
    let url = db.url().to_owned();
    runner.connect_workers_with(move || zdm_runtime::connect(&url));
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    // The batch holding row 4000 fails, whichever connection runs it: the batches after it
    // in its round roll back, and the runner's own connection, running it next, stops.
    let error = runner.run(&AddScore, Phase::Backfill).unwrap_err();
    assert!(error.to_string().contains("stopped at 4000"), "{error}");

    let state = runner.state(&AddScore).unwrap();
    let cursor = state.cursor.expect("a checkpoint was written");
    let visits: i64 = scalar(&mut client, "SELECT count(*) FROM visits");
    assert_eq!(
        visits, state.rows_done,
        "every row written is counted by the checkpoint"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score IS NOT NULL"),
        visits,
        "no batch after the failed one committed"
    );
    if server_version_num(&mut client) >= 140000 {
        let page: i64 = cursor[1].parse().unwrap();
        let first_left: i64 = scalar(
            &mut client,
            "SELECT min((ctid::text::point)[0])::bigint FROM items WHERE score IS NULL",
        );
        assert_eq!(first_left, page, "the checkpoint is the first page not done");
        let runner_pid: i32 = scalar(runner.client(), "SELECT pg_backend_pid()");
        let others: i64 = scalar(
            &mut client,
            &format!("SELECT count(DISTINCT pid) FROM visits WHERE pid <> {runner_pid}"),
        );
        assert!(others >= 1, "no worker connection wrote a row");
    }

    client.batch_execute("INSERT INTO passed DEFAULT VALUES").unwrap();
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert!(report.resumed);
    assert_eq!(report.steps[0].rows as i64, 6000 - visits);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM visits"), 6000);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        6000
    );
}

#[test]
fn a_vacuum_round_another_session_holds_the_lock_for_is_skipped() {
    let db = TestDb::new("backfill_vacuum_blocked");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(1000),
        vacuum_every_rows: 2_000,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let vacuums = Arc::new(Mutex::new(0));
    let count = vacuums.clone();
    runner.observe(move |event| {
        if let Event::BackfillVacuum { .. } = event {
            *count.lock().unwrap() += 1;
        }
    });
    // The lock a VACUUM takes, held by a session that is not an autovacuum: the round waits
    // twice deadlock_timeout for it, then goes on without vacuuming.
    let mut holder = db.connect();
    let mut transaction = holder.transaction().unwrap();
    transaction
        .batch_execute("LOCK TABLE items IN SHARE UPDATE EXCLUSIVE MODE")
        .unwrap();
    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    transaction.rollback().unwrap();
    assert_eq!(report.steps[0].rows, 6000);
    assert_eq!(*vacuums.lock().unwrap(), 0);
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE score = id * 3"),
        6000
    );
}

#[zero_downtime(
    id = "backfill_stamp",
    add_column(
        table = "items",
        column = "stamped",
        ty = "timestamptz",
        default = "clock_timestamp()"
    )
)]
struct AddStamp;

#[zero_downtime(
    id = "backfill_rename",
    rename_column(table = "items", from = "label", to = "title")
)]
struct RenameLabel;

/// A backfill whose rows the application's writes may leave unfilled goes by keys even when
/// heap pages are asked for: a volatile default reaches inserts only, and `rename_column`'s
/// trigger leaves a row whose update touched neither name as it was. A row such an update
/// moved to a page already passed would never be visited.
#[test]
fn heap_pages_are_taken_only_where_every_write_is_filled() {
    let db = TestDb::new("backfill_route_by_plan");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    client.batch_execute(FAIL_ONCE).unwrap();
    // It reads the column the other migrations of this file add.
    client.batch_execute("DROP TRIGGER log_visit ON items").unwrap();
    // The default route is heap pages, where the plan allows them.
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(500),
        ..test_options()
    });
    for migration in [&AddStamp as &dyn zdm_runtime::Migration, &RenameLabel] {
        runner.run_to(migration, Phase::Sync).unwrap();
        let error = runner.run(migration, Phase::Backfill).unwrap_err();
        assert!(error.to_string().contains("stopped at 4000"), "{error}");
        let state = runner.state(migration).unwrap();
        // A key checkpoint: the key's one column, the last key done.
        assert_eq!(state.cursor, Some(vec!["3500".to_owned()]), "{}", migration.id());
        client.batch_execute("INSERT INTO passed DEFAULT VALUES").unwrap();
        runner.run_to(migration, Phase::Contract).unwrap();
        client.batch_execute("DELETE FROM passed").unwrap();
    }
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE stamped IS NOT NULL"
        ),
        6000
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE title = 'item ' || id"
        ),
        6000
    );
}

/// Every batch but the last commits without waiting for its WAL to reach the disk; the
/// last, which records the step's completion, waits. A deferred trigger runs at commit,
/// where it sees the setting the commit runs under.
#[test]
fn batches_commit_asynchronously_except_the_last() {
    let db = TestDb::new("backfill_async_commit");
    let mut client = db.connect();
    client.batch_execute(SETUP).unwrap();
    let mut runner = db.runner_with(Options {
        // The last batch is the one that finds fewer rows than this: 5601 to 6000.
        batch: BatchSize::Fixed(700),
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    client
        .batch_execute(
            "CREATE TABLE commits (id bigint NOT NULL, synchronous_commit text NOT NULL);
             CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO commits VALUES (NEW.id, current_setting('synchronous_commit'));
               RETURN NULL;
             END $$;
             CREATE CONSTRAINT TRIGGER log_commit AFTER UPDATE ON items DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW WHEN (NEW.score IS NOT NULL) EXECUTE FUNCTION log_commit();",
        )
        .unwrap();
    runner.run(&AddScore, Phase::Backfill).unwrap();
    let seen = |client: &mut postgres::Client, query: &str| -> String { scalar(client, query) };
    assert_eq!(
        seen(
            &mut client,
            "SELECT string_agg(DISTINCT synchronous_commit, ',') FROM commits WHERE id <= 5600"
        ),
        "off"
    );
    assert_eq!(
        seen(
            &mut client,
            "SELECT string_agg(DISTINCT synchronous_commit, ',') FROM commits WHERE id > 5600"
        ),
        "on"
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM commits"), 6000);
}
