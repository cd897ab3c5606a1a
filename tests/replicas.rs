//! Replica lag against a real streaming standby: while the standby's replay is paused, the
//! backfill stops writing within one batch, says so, and goes on by itself once replay
//! resumes.
//!
//! The standby comes from `ZDM_STANDBY_URL`, or, when that is unset, from `.ci/standby`,
//! which makes one of the server at `DATABASE_URL` (a base backup with `-R`) on the port
//! 100 above it.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::Client;
use zdm_runtime::{zero_downtime, BatchSize, Event, Options, Phase, ReplicaLag};
use zdm_suite::{scalar, test_options, TestDb};

#[zero_downtime(
    id = "replicas_score",
    add_column(table = "items", column = "score", ty = "bigint", backfill = "id * 3")
)]
struct AddScore;

const ROWS: i64 = 20_000;
const BATCH: u32 = 2_000;

/// What the runner reported, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Batch,
    Waiting,
}

/// The URL of a standby of the server at `url`, with its database part replaced by
/// `database`.
fn standby_url(url: &str, database: &str) -> String {
    let standby = match std::env::var("ZDM_STANDBY_URL") {
        Ok(standby) if !standby.is_empty() => standby,
        _ => make_standby(url),
    };
    let (base, _) = standby.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{database}")
}

/// A standby of the server at `url` made by `.ci/standby`, on the port 100 above its own.
fn make_standby(url: &str) -> String {
    let port: u16 = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}; set ZDM_STANDBY_URL to a standby of it"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/standby");
    let output = Command::new(script)
        .args(["start", &port.to_string(), &(port + 100).to_string()])
        .output()
        .unwrap_or_else(|error| panic!("could not run {script}: {error}"));
    assert!(
        output.status.success(),
        "ZDM_STANDBY_URL is unset and {script} could not make a standby of the server on port {port}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Waits until the standby has replayed everything the primary has written so far.
fn caught_up(primary: &mut Client, standby: &mut Client) {
    let target: String = scalar(primary, "SELECT pg_current_wal_lsn()::text");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !standby
        .query_one("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&target])
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(Instant::now() < deadline, "the standby did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Resumes the standby's replay when dropped, so a failing test leaves no standby paused
/// for the tests that come after it.
struct Paused(Client);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("SELECT pg_wal_replay_resume()");
    }
}

#[test]
fn a_paused_replica_stops_the_backfill_until_it_replays_again() {
    let db = TestDb::new("replicas_paused_replay");
    let mut primary = db.connect();
    primary
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g;
             ANALYZE items;"
        ))
        .unwrap();
    // The test's database reaches the standby once it has replayed its creation.
    let mut standby = zdm_runtime::connect(&standby_url(db.url(), "postgres")).unwrap();
    caught_up(&mut primary, &mut standby);
    let standby_url = standby_url(db.url(), db.name());
    let mut standby = zdm_runtime::connect(&standby_url).unwrap();
    let identity = "SELECT system_identifier::text FROM pg_control_system()";
    assert_eq!(
        scalar::<String>(&mut standby, identity),
        scalar::<String>(&mut primary, identity),
        "{standby_url} is not a copy of the server at DATABASE_URL"
    );
    assert!(scalar::<bool>(&mut standby, "SELECT pg_is_in_recovery()"));

    let mut runner = db.runner_with(Options {
        batch: BatchSize::Fixed(BATCH),
        // Each batch writes far more WAL than this.
        replica_lag: Some(ReplicaLag {
            max_bytes: 64 * 1024,
            max_replay_lag: Duration::from_secs(3600),
            poll: Duration::from_millis(100),
        }),
        ..test_options()
    });
    runner.run_to(&AddScore, Phase::Sync).unwrap();
    caught_up(&mut primary, &mut standby);
    standby.batch_execute("SELECT pg_wal_replay_pause()").unwrap();
    let paused = Paused(standby);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    runner.observe(move |event| match event {
        Event::BackfillProgress { .. } => log.lock().unwrap().push(Seen::Batch),
        Event::ReplicaLag { bytes, .. } => {
            assert!(*bytes > 64 * 1024, "a wait reports the lag it waits on");
            log.lock().unwrap().push(Seen::Waiting);
        }
        _ => {}
    });
    let backfill = std::thread::spawn(move || runner.run(&AddScore, Phase::Backfill));

    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.lock().unwrap().contains(&Seen::Waiting) {
        assert!(
            !backfill.is_finished(),
            "the backfill ran to its end past a paused replica"
        );
        assert!(
            Instant::now() < deadline,
            "the backfill never waited for the replica"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let filled = "SELECT count(*) FROM items WHERE score IS NOT NULL";
    let while_waiting: i64 = scalar(&mut primary, filled);
    // Several polls of the lag while nothing may be written.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(scalar::<i64>(&mut primary, filled), while_waiting);
    assert!(while_waiting < ROWS);
    let batches_before_waiting = seen
        .lock()
        .unwrap()
        .iter()
        .take_while(|seen| **seen == Seen::Batch)
        .count();
    assert!(
        batches_before_waiting <= 1,
        "the backfill stops within one batch of the replica falling behind: {:?}",
        seen.lock().unwrap()
    );

    drop(paused);
    let report = backfill.join().unwrap().unwrap();
    assert_eq!(report.steps[0].rows as i64, ROWS);
    assert_eq!(
        scalar::<i64>(&mut primary, "SELECT count(*) FROM items WHERE score = id * 3"),
        ROWS
    );
    assert_eq!(seen.lock().unwrap().last(), Some(&Seen::Batch));
    // The standby has every row too, once it has replayed the rest.
    let mut standby = zdm_runtime::connect(&standby_url).unwrap();
    caught_up(&mut primary, &mut standby);
    assert_eq!(
        scalar::<i64>(&mut standby, "SELECT count(*) FROM items WHERE score = id * 3"),
        ROWS
    );
}
