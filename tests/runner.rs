//! The runner's guarantees against a real PostgreSQL: phase order, one runner at a time,
//! lock timeouts that retry and name the blocker, and a killed backfill that resumes from
//! its checkpoint.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zdm_runtime::{zero_downtime, BackfillRoute, BatchSize, Error, Options, Phase};
use zdm_suite::{checksum, column, scalar, table_catalog, test_options, TestDb};

#[zero_downtime(
    id = "add_score",
    add_column(
        table = "items",
        column = "score",
        ty = "bigint",
        backfill = "id * 10",
        not_null
    )
)]
struct AddScore;

fn items(db: &TestDb, rows: i64) {
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
}

#[test]
fn phases_out_of_order_are_refused_and_change_nothing() {
    let db = TestDb::new("runner_phase_order");
    items(&db, 20);
    let mut client = db.connect();
    let mut runner = db.runner();
    // The table's catalog (triggers and functions included), its rows and the state row,
    // whole, timestamps and all.
    let snapshot = |client: &mut postgres::Client| {
        (
            table_catalog(client, "items"),
            checksum(client, "items"),
            scalar::<Option<String>>(
                client,
                "SELECT (SELECT m::text FROM zdm.migrations m WHERE id = 'add_score')",
            ),
        )
    };
    let refused = |result: Result<_, Error>| match result {
        Err(Error::PhaseOrder { reason, .. }) => reason,
        other => panic!("expected a phase-order refusal, got {other:?}"),
    };
    // Each refusal is compared with the database just before it.
    let assert_refused = |runner: &mut zdm_runtime::Runner,
                          client: &mut postgres::Client,
                          phase: Phase,
                          forward: bool,
                          reason: &str| {
        let before = snapshot(client);
        let outcome = if forward {
            runner.run(&AddScore, phase).map(|_| ())
        } else {
            runner.revert(&AddScore, phase).map(|_| ())
        };
        assert_eq!(refused(outcome), reason);
        assert_eq!(snapshot(client), before, "after the refusal: {reason}");
    };
    assert_refused(
        &mut runner,
        &mut client,
        Phase::Backfill,
        true,
        "sync must complete first (the last completed phase is none)",
    );
    assert_refused(
        &mut runner,
        &mut client,
        Phase::Expand,
        false,
        "expand never ran (no phase has completed)",
    );

    runner.run(&AddScore, Phase::Expand).unwrap();
    assert_refused(
        &mut runner,
        &mut client,
        Phase::Contract,
        true,
        "backfill must complete first (the last completed phase is expand)",
    );
    assert_refused(
        &mut runner,
        &mut client,
        Phase::Expand,
        true,
        "expand already ran (the last completed phase is expand)",
    );
    runner.run(&AddScore, Phase::Sync).unwrap();
    assert_refused(
        &mut runner,
        &mut client,
        Phase::Expand,
        false,
        "only the last completed phase can be reverted, and that is sync",
    );
    assert_eq!(runner.state(&AddScore).unwrap().completed, Some(Phase::Sync));
    let before = snapshot(&mut client);
    let message = runner.run(&AddScore, Phase::Contract).unwrap_err().to_string();
    assert_eq!(
        message,
        "add_score: cannot run contract: backfill must complete first (the last completed phase is sync)"
    );
    assert_eq!(snapshot(&mut client), before);
}

#[test]
fn a_second_runner_is_refused_while_the_first_holds_the_lock() {
    let db = TestDb::new("runner_second_refused");
    items(&db, 5);
    let first = db.runner();
    let first_pid = {
        let mut first = first;
        let pid: i32 = scalar(first.client(), "SELECT pg_backend_pid()");
        match zdm_runtime::Runner::connect(db.url(), test_options()) {
            Err(Error::Busy { holder }) => assert_eq!(holder, pid),
            other => panic!("expected Busy, got {:?}", other.map(|_| ())),
        }
        let message = zdm_runtime::Runner::connect(db.url(), test_options())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            message,
            format!("another zdm runner is working on this database (backend pid {pid}); wait for it to finish, then retry")
        );
        pid
    };
    // Dropping the first runner closes its session and frees the lock.
    let mut second = db.runner();
    let pid: i32 = scalar(second.client(), "SELECT pg_backend_pid()");
    assert_ne!(pid, first_pid);
}

#[test]
fn a_blocker_makes_the_step_retry_then_fail_naming_it() {
    let db = TestDb::new("runner_blocker");
    items(&db, 10);
    let mut blocker = db.connect();
    let blocker_pid: i32 = scalar(&mut blocker, "SELECT pg_backend_pid()");
    let mut blocking = blocker.transaction().unwrap();
    blocking.batch_execute("SELECT count(*) FROM items").unwrap();

    let mut runner = db.runner_with(Options {
        lock_timeout: Duration::from_millis(200),
        lock_budget: Duration::from_secs(2),
        ..test_options()
    });
    let runner_pid: i32 = scalar(runner.client(), "SELECT pg_backend_pid()");
    let mut reader = db.connect();
    let reader_pid: i32 = scalar(&mut reader, "SELECT pg_backend_pid()");

    // A read of the table queues behind the waiting ALTER, which the server shows as a
    // lock wait blocked by the runner alone (the blocker's lock does not conflict with a
    // read); when the attempt times out the read is released, while the blocker still
    // holds its lock and the runner goes on retrying. What happened, in order:
    #[derive(Default)]
    struct Watch {
        reads_done: u64,
        queued: Option<u64>,
        lock_waits: u32,
        log: Vec<String>,
    }
    let watch = Arc::new(Mutex::new(Watch::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let reading = {
        let (watch, stop) = (watch.clone(), stop.clone());
        std::thread::spawn(move || {
            // Reads start only in the first two attempts, so that the read queued and its
            // release come before the last attempt, whose blockers the error reports.
            while !stop.load(Ordering::SeqCst) && watch.lock().unwrap().lock_waits < 2 {
                reader.query("SELECT count(*) FROM items", &[]).unwrap();
                let mut watch = watch.lock().unwrap();
                let read = watch.reads_done;
                watch.reads_done += 1;
                if watch.queued == Some(read) {
                    watch.log.push(format!("read {read} returned"));
                    return;
                }
                drop(watch);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let monitoring = {
        let (watch, stop) = (watch.clone(), stop.clone());
        let mut monitor = db.connect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let in_flight = watch.lock().unwrap().reads_done;
                let queued: bool = monitor
                    .query_one(
                        "SELECT coalesce(bool_or(wait_event_type = 'Lock' \
                                 AND pg_blocking_pids(pid) = ARRAY[$2::integer]), false) \
                         FROM pg_stat_activity WHERE pid = $1",
                        &[&reader_pid, &runner_pid],
                    )
                    .unwrap()
                    .get(0);
                let mut watch = watch.lock().unwrap();
                // Only while the read seen waiting is still the one in flight.
                if queued && watch.queued.is_none() && watch.reads_done == in_flight {
                    watch.queued = Some(in_flight);
                    watch
                        .log
                        .push(format!("read {in_flight} queued behind the ALTER"));
                }
                drop(watch);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let observed = watch.clone();
    runner.observe(move |event| {
        let zdm_runtime::Event::LockWait { attempt, .. } = event else {
            return;
        };
        let queued = {
            let mut watch = observed.lock().unwrap();
            watch.lock_waits = *attempt;
            watch.log.push(format!("attempt {attempt} timed out"));
            watch.queued
        };
        // Before the runner retries, a read queued behind this attempt (or an earlier
        // one) must have been released; waiting here puts its release before the next
        // attempt and before the runner gives up.
        if let Some(read) = queued {
            let deadline = Instant::now() + Duration::from_secs(30);
            while observed.lock().unwrap().reads_done <= read {
                if Instant::now() > deadline {
                    panic!(
                        "read {read}, queued behind the ALTER, still waits after attempt {attempt} timed out"
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let error = runner.run(&AddScore, Phase::Expand).unwrap_err();
    watch.lock().unwrap().log.push("the runner gave up".to_owned());
    stop.store(true, Ordering::SeqCst);
    reading.join().unwrap();
    monitoring.join().unwrap();
    match &error {
        Error::LockTimeout {
            attempts, blockers, ..
        } => {
            assert!(*attempts >= 3, "retried with backoff: {error}");
            assert_eq!(
                blockers.iter().map(|blocker| blocker.pid).collect::<Vec<_>>(),
                [blocker_pid]
            );
            assert_eq!(blockers[0].state, "idle in transaction");
            assert_eq!(blockers[0].query, "SELECT count(*) FROM items");
        }
        other => panic!("expected a lock timeout, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "pid {blocker_pid} (idle in transaction, AccessShareLock held"
        )),
        "{message}"
    );
    let log = std::mem::take(&mut watch.lock().unwrap().log);
    let read = watch
        .lock()
        .unwrap()
        .queued
        .unwrap_or_else(|| panic!("no read was seen queued behind the ALTER: {log:?}"));
    let at = |entry: String| {
        log.iter()
            .position(|logged| *logged == entry)
            .unwrap_or_else(|| panic!("{entry:?} missing from {log:?}"))
    };
    assert!(
        at(format!("read {read} queued behind the ALTER")) < at(format!("read {read} returned"))
            && at(format!("read {read} returned")) < at("the runner gave up".to_owned()),
        "the queued read was released while the runner still retried: {log:?}"
    );
    blocking.rollback().unwrap();

    // The failed phase is recorded, and once the blocker is gone it resumes.
    let state = runner.state(&AddScore).unwrap();
    assert_eq!(
        state.running,
        Some((Phase::Expand, zdm_runtime::Direction::Forward))
    );
    assert!(state.error.unwrap().contains("could not take its lock"));
    runner.run(&AddScore, Phase::Expand).unwrap();
    assert!(column(&mut db.connect(), "items", "score").is_some());
}

/// Run by `a_killed_backfill_resumes_from_its_checkpoint` as a child process, which the
/// test kills mid-way; does nothing when run on its own.
#[test]
#[ignore = "child process of a_killed_backfill_resumes_from_its_checkpoint"]
fn backfill_child() {
    let Ok(url) = std::env::var("ZDM_CHILD_DATABASE_URL") else {
        return;
    };
    let mut runner = zdm_runtime::Runner::connect(
        &url,
        Options {
            batch: BatchSize::Fixed(100),
            // The parent reads the checkpoint as a key.
            route: BackfillRoute::PrimaryKey,
            ..test_options()
        },
    )
    .unwrap();
    runner.run(&AddScore, Phase::Backfill).unwrap();
}

#[test]
fn a_killed_backfill_resumes_from_its_checkpoint() {
    let db = TestDb::new("runner_killed_backfill");
    let rows = 8_000;
    items(&db, rows);
    let mut client = db.connect();
    {
        let mut runner = db.runner();
        runner.run_to(&AddScore, Phase::Sync).unwrap();
    }
    // Every committed write to score is logged; batches rolled back by the kill log nothing.
    // The delay makes the backfill slow enough to be killed in the middle.
    client
        .batch_execute(
            "CREATE TABLE visits (id bigint NOT NULL);
             CREATE FUNCTION log_visit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.score IS DISTINCT FROM OLD.score THEN INSERT INTO visits VALUES (NEW.id); END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER log_visit AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION log_visit();
             CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(0.0005); RETURN NEW; END $$;
             CREATE TRIGGER slow_down BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION slow_down();",
        )
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "backfill_child", "--ignored", "--nocapture"])
        .env("ZDM_CHILD_DATABASE_URL", db.url())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = scalar(&mut client, "SELECT count(*) FROM visits");
        if done >= rows / 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the child backfill made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed runner's backend ends once it notices the closed socket, mid-batch at
    // the latest; until then it holds the runner lock and a second runner is refused.
    let mut runner = loop {
        match zdm_runtime::Runner::connect(db.url(), test_options()) {
            Ok(runner) => break runner,
            Err(Error::Busy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(error) => panic!("{error}"),
        }
    };

    let state = runner.state(&AddScore).unwrap();
    assert_eq!(
        state.running,
        Some((Phase::Backfill, zdm_runtime::Direction::Forward))
    );
    let cursor: i64 = state.cursor.expect("a checkpoint was written")[0]
        .parse()
        .unwrap();
    let visited_before_resume: i64 = scalar(&mut client, "SELECT count(*) FROM visits");
    assert_eq!(
        visited_before_resume, cursor,
        "the checkpoint matches the committed batches"
    );
    assert!(cursor < rows, "killed before the end");

    let report = runner.run(&AddScore, Phase::Backfill).unwrap();
    assert!(report.resumed);
    assert_eq!(
        report.steps[0].rows as i64,
        rows - cursor,
        "the resumed run starts after the checkpoint"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE score IS DISTINCT FROM id * 10"
        ),
        0
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM visits"),
        rows,
        "every row visited exactly once"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(DISTINCT id) FROM visits"),
        rows
    );
}

#[test]
fn backfill_batches_follow_the_key_order_with_the_declared_size() {
    let db = TestDb::new("runner_batch_sizes");
    // Ids whose text order differs from their numeric order (2 < 10, "10" < "2").
    db.connect()
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;",
        )
        .unwrap();
    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(250),
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = batches.clone();
    runner.observe(move |event| {
        if let zdm_runtime::Event::BackfillProgress { rows_done, .. } = event {
            seen.lock().unwrap().push(*rows_done);
        }
    });
    runner.run(&AddScore, Phase::Backfill).unwrap();
    // Four full batches, then an empty last one that finds no upper bound.
    assert_eq!(*batches.lock().unwrap(), [250, 500, 750, 1000, 1000]);
}
