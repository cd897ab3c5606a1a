//! The mixed-version harness: application versions that prepare their statements once and
//! write while a run moves phases forward and back, each write recorded with what it meant.

// Each test file uses a part of the harness.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::{FromSql, ToSql};
use postgres::Client;
use zdm_runtime::{Migration, Options, Phase};
use zdm_suite::{connect_or_exit, test_options, TestDb};

pub const ROWS: i64 = 1_000;

/// What the last writer of each row meant; writes and their record happen under the lock.
pub type Ledger = Mutex<BTreeMap<i64, String>>;

/// One application version: its statements, prepared once when it is deployed.
pub struct Version {
    url: String,
    /// `UPDATE … SET <column> = $1 WHERE id = $2`.
    update: &'static str,
    /// `INSERT … VALUES ($1) RETURNING id`.
    insert: &'static str,
    /// `SELECT <column> FROM … WHERE id = $1`.
    read: &'static str,
    deployed: AtomicBool,
    writes: AtomicU64,
}

impl Version {
    pub fn new(url: String, update: &'static str, insert: &'static str, read: &'static str) -> Version {
        Version {
            url,
            update,
            insert,
            read,
            deployed: AtomicBool::new(false),
            writes: AtomicU64::new(0),
        }
    }

    /// Deploys or stops the version between two of its writes.
    pub fn deploy(&self, deployed: bool, ledger: &Ledger) {
        let _between_writes = ledger.lock().unwrap();
        self.deployed.store(deployed, Ordering::SeqCst);
    }

    /// How many writes the version has made.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Waits for `count` more writes (a guard against a stuck writer, not a timing check).
    pub fn wait_for_writes(&self, count: u64, stop: &AtomicBool) {
        let target = self.writes.load(Ordering::SeqCst) + count;
        let started = std::time::Instant::now();
        while self.writes.load(Ordering::SeqCst) < target {
            assert!(!stop.load(Ordering::SeqCst), "a writer failed");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "a writer made no write in 60 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Writes until `stop`: `value(call)` is the parameter and what it means; the read's
    /// result must keep the type `R`.
    pub fn write<V, R>(
        &self,
        ledger: &Ledger,
        stop: &AtomicBool,
        salt: u64,
        value: impl Fn(u64) -> (V, String),
    ) where
        V: ToSql + Sync,
        R: for<'a> FromSql<'a>,
    {
        while !self.deployed.load(Ordering::SeqCst) {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut client = connect_or_exit(&self.url);
        let update = client.prepare(self.update).unwrap();
        let insert = client.prepare(self.insert).unwrap();
        let read = client.prepare(self.read).unwrap();
        let mut call = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let mut ledger = ledger.lock().unwrap();
            if !self.deployed.load(Ordering::SeqCst) {
                drop(ledger);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            call += 1;
            let (parameter, meant) = value(call + salt);
            let id: i64 = if call.is_multiple_of(5) {
                client
                    .query_one(&insert, &[&parameter])
                    .unwrap_or_else(|e| failed(self.insert, &e))
                    .get(0)
            } else {
                let id = ((call + salt).wrapping_mul(2_654_435_761) % ROWS as u64) as i64 + 1;
                client
                    .execute(&update, &[&parameter, &id])
                    .unwrap_or_else(|e| failed(self.update, &e));
                id
            };
            ledger.insert(id, meant);
            let row = client
                .query_one(&read, &[&id])
                .unwrap_or_else(|e| failed(self.read, &e));
            let _: Option<R> = row.try_get(0).unwrap_or_else(|e| panic!("{}: {e}", self.read));
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn failed(statement: &str, error: &postgres::Error) -> ! {
    match error.as_db_error() {
        Some(db) => panic!("{statement}: {} ({:?})", db.message(), db.code()),
        None => panic!("{statement}: {error}"),
    }
}

/// The new version's URL: its version schema first on the search path.
pub fn new_version_url(db: &TestDb, migration: &dyn Migration) -> String {
    version_path_url(db, &[migration])
}

/// The new version's URL: the version schemas of `migrations`, if any, before `public`, as
/// `version_search_path` gives them; with none, the path resolves to the tables.
pub fn version_path_url(db: &TestDb, migrations: &[&dyn Migration]) -> String {
    let schemas = zdm_runtime::version_search_path(migrations);
    let path = if schemas.is_empty() {
        "public".to_owned()
    } else {
        format!("{schemas},public")
    };
    format!(
        "{}?options=-c%20search_path%3D{}",
        db.url(),
        path.replace(", ", "%2C").replace(',', "%2C")
    )
}

/// A fresh database after `setup`, which makes `ROWS` rows with ids 1 to `ROWS`, named
/// `seed <id>`; and the ledger of those names.
pub fn seeded(test: &str, setup: &str) -> (TestDb, Ledger) {
    let db = TestDb::new(test);
    db.connect().batch_execute(setup).unwrap();
    let ledger = Mutex::new((1..=ROWS).map(|id| (id, format!("seed {id}"))).collect());
    (db, ledger)
}

/// `items` with `ROWS` rows named `seed <id>`, every third with a city, after which `extra`
/// runs; and the ledger of those names.
pub fn items(test: &str, extra: &str) -> (TestDb, Ledger) {
    seeded(
        test,
        &format!(
            "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', city text);
             INSERT INTO items (name, city) SELECT 'seed ' || n, CASE WHEN n % 3 = 0 THEN 'c' END \
             FROM generate_series(1, {ROWS}) AS n;
             {extra}"
        ),
    )
}

/// The columns of `schema`.`items`, in order: a version view's, or none once it is gone.
pub fn view_columns(client: &mut Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'items' ORDER BY ordinal_position",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Asserts that `query` fails for want of a column: what a version sees through a view
/// that leaves the column out.
pub fn assert_column_unseen(client: &mut Client, query: &str) {
    let error = client.query(query, &[]).unwrap_err();
    assert_eq!(
        error.code(),
        Some(&postgres::error::SqlState::UNDEFINED_COLUMN),
        "{query}: {error}"
    );
}

/// Runs the old version (index 0) and the new one (index 1) through `moves` of
/// `migrations`, each writing `old <n>` or `new <n>` as its parameter, then checks every
/// row `query` reads, as (id, value), against the ledger.
pub fn run_both(
    db: &TestDb,
    migrations: &[&dyn Migration],
    old: &Version,
    new: &Version,
    ledger: Ledger,
    query: &str,
    moves: &[Move],
) {
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let (version, who) = if index == 0 { (old, "old") } else { (new, "new") };
        version.write::<String, String>(ledger, stop, index as u64 * 1_000_003, |call| {
            let value = format!("{who} {call}");
            (value.clone(), value)
        });
    };
    run_moves(db, migrations, &[old, new], &write, &ledger, moves);
    assert_rows_as_meant(&mut db.connect(), query, ledger);
}

pub const OLD_UPDATE: &str = "UPDATE items SET name = $1 WHERE id = $2";
pub const OLD_INSERT: &str = "INSERT INTO items (name) VALUES ($1) RETURNING id";
pub const OLD_READ: &str = "SELECT name FROM items WHERE id = $1";

/// The old version: `items` by its name, on the tables.
pub fn old_version(db: &TestDb) -> Version {
    Version::new(db.url().to_owned(), OLD_UPDATE, OLD_INSERT, OLD_READ)
}

/// Every phase forward, every reversal back to nothing, then forward again: the old version
/// stops before each contract and runs again after its reversal; the new version is
/// deployed after expand and stops before expand's reversal.
pub fn every_phase_and_reversal() -> Vec<Move> {
    every_phase_and_reversal_new_after(Phase::Expand)
}

/// [`every_phase_and_reversal`] with the new version deployed after `deployed_after` and
/// stopped before that phase's reversal, for an operation whose deploy order says so.
pub fn every_phase_and_reversal_new_after(deployed_after: Phase) -> Vec<Move> {
    let forward = |moves: &mut Vec<Move>| {
        for phase in Phase::ALL {
            if phase == Phase::Contract {
                moves.push(Move::Stop(0));
            }
            moves.push(Move::Run(phase));
            if phase == deployed_after {
                moves.push(Move::Deploy(1));
            }
        }
    };
    let mut moves = vec![Move::Deploy(0)];
    forward(&mut moves);
    let mut new_version_stopped = false;
    for phase in Phase::ALL.into_iter().rev() {
        if phase == deployed_after {
            moves.push(Move::Stop(1));
            new_version_stopped = true;
        }
        // Once the new version is stopped, its reversals say so, as the README tells an
        // operator to (a view of the version schema refuses them otherwise).
        moves.push(if new_version_stopped {
            Move::RevertStopped(phase)
        } else {
            Move::Revert(phase)
        });
        if phase == Phase::Contract {
            moves.push(Move::Deploy(0));
        }
    }
    forward(&mut moves);
    moves
}

/// Sets the flag when a thread panics, so the others stop.
pub struct StopOnPanic<'a>(pub &'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// One move of the run: a phase of the run's first migration forward or back, or of the
/// migration at that index, or a version deployed or stopped.
#[derive(Clone, Copy, Debug)]
pub enum Move {
    Run(Phase),
    Revert(Phase),
    RunOf(usize, Phase),
    RevertOf(usize, Phase),
    Deploy(usize),
    Stop(usize),
    /// A reversal of the first migration's phase run as `--new-version-stopped`, which the
    /// move before has done.
    RevertStopped(Phase),
}

/// Makes the moves while `versions` write, each version with its own value function.
pub fn run_moves(
    db: &TestDb,
    migrations: &[&dyn Migration],
    versions: &[&Version],
    write: &(dyn Fn(usize, &Ledger, &AtomicBool) + Sync),
    ledger: &Ledger,
    moves: &[Move],
) {
    let stop = AtomicBool::new(false);
    // The new version runs throughout: no reversal may assume it stopped.
    let running = || {
        db.runner_with(Options {
            new_version_stopped: false,
            ..test_options()
        })
    };
    let mut runner = running();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..versions.len())
            .map(|index| {
                let stop = &stop;
                scope.spawn(move || {
                    let _stop = StopOnPanic(stop);
                    write(index, ledger, stop)
                })
            })
            .collect();
        let _stop = StopOnPanic(&stop);
        for &step in moves {
            let outcome = match step {
                Move::Run(phase) => runner.run(migrations[0], phase).map(drop),
                Move::Revert(phase) => runner.revert(migrations[0], phase).map(drop),
                Move::RunOf(index, phase) => runner.run(migrations[index], phase).map(drop),
                Move::RevertOf(index, phase) => runner.revert(migrations[index], phase).map(drop),
                Move::RevertStopped(phase) => {
                    // One runner at a time holds the database.
                    drop(runner);
                    let reverted = db.runner().revert(migrations[0], phase).map(drop);
                    runner = running();
                    reverted
                }
                Move::Deploy(index) | Move::Stop(index) => {
                    versions[index].deploy(matches!(step, Move::Deploy(_)), ledger);
                    Ok(())
                }
            };
            outcome.unwrap_or_else(|error| panic!("{step:?}: {error}"));
            for version in versions {
                if version.deployed.load(Ordering::SeqCst) {
                    version.wait_for_writes(20, &stop);
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        for thread in threads {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Asserts that every row `query` reads, as (id, value), holds what its last writer meant
/// by the ledger, and that there are as many rows as the ledger has: none lost, none extra.
pub fn assert_rows_as_meant(client: &mut postgres::Client, query: &str, ledger: Ledger) {
    let stored: BTreeMap<i64, String> = client
        .query(query, &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let meant = ledger.into_inner().unwrap();
    let wrong: Vec<_> = meant
        .iter()
        .filter(|(id, value)| stored.get(id) != Some(value))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "rows not as their last writer meant: {wrong:?}");
    assert_eq!(stored.len(), meant.len());
}
