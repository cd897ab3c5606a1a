//! The runner's guarantees against a real PostgreSQL: phase order, one runner at a time,
//! lock timeouts that retry and name the blocker, and a killed backfill that resumes from
//! its checkpoint.

use std::process::Command;
use std::time::{Duration, Instant};

use zdm_runtime::{zero_downtime, BatchSize, Error, Options, Phase};
use zdm_suite::{checksum, column, scalar, test_options, TestDb};

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
    let before = checksum(&mut client, "items");

    let refused = |result: Result<_, Error>| match result {
        Err(Error::PhaseOrder { reason, .. }) => reason,
        other => panic!("expected a phase-order refusal, got {other:?}"),
    };
    assert_eq!(
        refused(runner.run(&AddScore, Phase::Backfill)),
        "sync must complete first (the last completed phase is none)"
    );
    assert_eq!(
        refused(runner.revert(&AddScore, Phase::Expand)),
        "expand never ran (no phase has completed)"
    );
    assert!(column(&mut client, "items", "score").is_none());
    assert_eq!(checksum(&mut client, "items"), before);

    runner.run(&AddScore, Phase::Expand).unwrap();
    assert_eq!(
        refused(runner.run(&AddScore, Phase::Contract)),
        "backfill must complete first (the last completed phase is expand)"
    );
    assert_eq!(
        refused(runner.run(&AddScore, Phase::Expand)),
        "expand already ran (the last completed phase is expand)"
    );
    runner.run(&AddScore, Phase::Sync).unwrap();
    assert_eq!(
        refused(runner.revert(&AddScore, Phase::Expand)),
        "only the last completed phase can be reverted, and that is sync"
    );
    assert_eq!(runner.state(&AddScore).unwrap().completed, Some(Phase::Sync));
    let message = runner.run(&AddScore, Phase::Contract).unwrap_err().to_string();
    assert_eq!(
        message,
        "add_score: cannot run contract: backfill must complete first (the last completed phase is sync)"
    );
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
        lock_timeout: Duration::from_millis(100),
        lock_budget: Duration::from_millis(1_500),
        ..test_options()
    });
    // While the runner waits, other sessions' reads must not queue behind it for longer
    // than the lock timeout.
    let reader_url = db.url().to_owned();
    let reader = std::thread::spawn(move || {
        let mut client = zdm_suite::connect_or_exit(&reader_url);
        let mut slowest = Duration::ZERO;
        let deadline = Instant::now() + Duration::from_millis(1_200);
        while Instant::now() < deadline {
            let started = Instant::now();
            client.query("SELECT count(*) FROM items", &[]).unwrap();
            slowest = slowest.max(started.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        slowest
    });
    let started = Instant::now();
    let error = runner.run(&AddScore, Phase::Expand).unwrap_err();
    let waited = started.elapsed();
    let slowest_read = reader.join().unwrap();
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
    assert!(
        waited < Duration::from_secs(3),
        "gave up within the budget, took {waited:?}"
    );
    // A reader queued behind the waiting ALTER is released when the attempt times out.
    assert!(
        slowest_read < Duration::from_secs(1),
        "a read waited {slowest_read:?}"
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
