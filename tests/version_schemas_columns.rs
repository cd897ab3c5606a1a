//! Mixed-version runs of the column operations other than change_type (which
//! tests/version_schemas.rs covers): the old version on the tables, the new version through
//! its version schema, both with statements prepared once, writing through every phase,
//! the contract's reversal and forward again; no write of either fails, and every row holds
//! what its last writer meant.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::{FromSql, ToSql};
use zdm_runtime::{zero_downtime, Migration, Options, Phase};
use zdm_suite::{connect_or_exit, test_options, TestDb};

#[zero_downtime(
    id = "customers_full_name",
    rename_column(table = "customers", from = "name", to = "full_name")
)]
struct RenameName;

/// A later migration of the same table while `RenameName` is in flight: balances were
/// integer cents, the newest version writes numeric dollars.
#[zero_downtime(
    id = "customers_balance_dollars",
    change_type(
        table = "customers",
        column = "balance",
        to = "numeric(12,2)",
        up = "balance / 100.0",
        down = "(balance * 100)::integer"
    )
)]
struct BalanceInDollars;

const ROWS: i64 = 1_000;

/// What the last writer of each row meant; writes and their record happen under the lock.
type Ledger = Mutex<BTreeMap<i64, String>>;

/// One application version: its statements, prepared once when it is deployed.
struct Version {
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
    fn new(url: String, update: &'static str, insert: &'static str, read: &'static str) -> Version {
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
    fn deploy(&self, deployed: bool, ledger: &Ledger) {
        let _between_writes = ledger.lock().unwrap();
        self.deployed.store(deployed, Ordering::SeqCst);
    }

    /// Waits for `count` more writes (a guard against a stuck writer, not a timing check).
    fn wait_for_writes(&self, count: u64, stop: &AtomicBool) {
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
    fn write<V, R>(&self, ledger: &Ledger, stop: &AtomicBool, salt: u64, value: impl Fn(u64) -> (V, String))
    where
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

fn failed(statement: &str, error: &postgres::Error) -> ! {
    match error.as_db_error() {
        Some(db) => panic!("{statement}: {} ({:?})", db.message(), db.code()),
        None => panic!("{statement}: {error}"),
    }
}

/// The new version's URL: its version schema first on the search path.
fn new_version_url(db: &TestDb, migration: &dyn Migration) -> String {
    let schema = zdm_plan::names::version_schema(migration.id());
    format!("{}?options=-c%20search_path%3D{schema}%2Cpublic", db.url())
}

/// Sets the flag when a thread panics, so the others stop.
struct StopOnPanic<'a>(&'a AtomicBool);

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
enum Move {
    Run(Phase),
    Revert(Phase),
    RunOf(usize, Phase),
    RevertOf(usize, Phase),
    Deploy(usize),
    Stop(usize),
}

/// Makes the moves while `versions` write, each version with its own value function.
fn run_moves(
    db: &TestDb,
    migrations: &[&dyn Migration],
    versions: &[&Version],
    write: &(dyn Fn(usize, &Ledger, &AtomicBool) + Sync),
    ledger: &Ledger,
    moves: &[Move],
) {
    let stop = AtomicBool::new(false);
    // The new version runs throughout: no reversal may assume it stopped.
    let mut runner = db.runner_with(Options {
        new_version_stopped: false,
        ..test_options()
    });
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

/// The new version reads and writes `full_name` from the end of expand (before any
/// backfill: the view shows `name`'s values under the new name until the contract's swap
/// shows the new column instead, in the same transaction); the old version writes `name`
/// until the contract and again after its reversal.
#[test]
fn rename_column_under_both_versions() {
    use Move::*;
    let db = TestDb::new("vs_rename_column");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', city text);
             INSERT INTO customers (name, city) SELECT 'seed ' || n, 'c' FROM generate_series(1, {ROWS}) AS n;"
        ))
        .unwrap();
    let ledger: Ledger = Mutex::new((1..=ROWS).map(|id| (id, format!("seed {id}"))).collect());
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE customers SET name = $1 WHERE id = $2",
        "INSERT INTO customers (name) VALUES ($1) RETURNING id",
        "SELECT name FROM customers WHERE id = $1",
    );
    let new = Version::new(
        new_version_url(&db, &RenameName),
        "UPDATE customers SET full_name = $1 WHERE id = $2",
        "INSERT INTO customers (full_name) VALUES ($1) RETURNING id",
        "SELECT full_name FROM customers WHERE id = $1",
    );
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let (version, who) = if index == 0 { (&old, "old") } else { (&new, "new") };
        version.write::<String, String>(ledger, stop, index as u64 * 1_000_003, |call| {
            let value = format!("{who} {call}");
            (value.clone(), value)
        });
    };
    let moves = [
        Deploy(0),
        Run(Phase::Expand),
        Deploy(1),
        Run(Phase::Sync),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
        Revert(Phase::Contract),
        Deploy(0),
        Revert(Phase::Backfill),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
    ];
    run_moves(&db, &[&RenameName], &[&old, &new], &write, &ledger, &moves);
    let stored: BTreeMap<i64, String> = client
        .query("SELECT id, full_name FROM customers", &[])
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
    let view: String = client
        .query_one(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'",
            &[&zdm_plan::names::version_schema(RenameName.id())],
        )
        .unwrap()
        .get(0);
    assert_eq!(view, "id bigint, full_name text, city text");
}

/// Two migrations of one table in flight: `customers_full_name`'s rename, then
/// `customers_balance_dollars`'s type change. The newest version schema presents the shape
/// after both (`full_name`, and `balance` in dollars, neither migration's transition column),
/// and the newest version writes through it, with statements prepared once, across both
/// migrations' contracts and their reversals; the old version writes the tables until the
/// first contract, and again after its reversal.
#[test]
fn two_migrations_of_one_table_in_flight() {
    use Move::*;
    let db = TestDb::new("vs_two_in_flight");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', \
                                     balance integer NOT NULL DEFAULT 0, city text);
             INSERT INTO customers (name, balance, city) \
             SELECT 'seed ' || n, n * 100, 'c' FROM generate_series(1, {ROWS}) AS n;"
        ))
        .unwrap();
    let ledger: Ledger = Mutex::new((1..=ROWS).map(|id| (id, format!("seed {id} {id}.00"))).collect());
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE customers SET name = 'n' || $1::bigint, balance = $1::bigint * 100 WHERE id = $2",
        "INSERT INTO customers (name, balance) VALUES ('n' || $1::bigint, $1::bigint * 100) RETURNING id",
        "SELECT name, balance FROM customers WHERE id = $1",
    );
    let newest_path = zdm_runtime::version_search_path(&[&RenameName, &BalanceInDollars]);
    let newest = Version::new(
        format!(
            "{}?options=-c%20search_path%3D{}%2Cpublic",
            db.url(),
            newest_path.replace(", ", "%2C")
        ),
        "UPDATE customers SET full_name = 'n' || $1::bigint, balance = $1::bigint + 0.25 WHERE id = $2",
        "INSERT INTO customers (full_name, balance) VALUES ('n' || $1::bigint, $1::bigint + 0.25) RETURNING id",
        "SELECT full_name, balance FROM customers WHERE id = $1",
    );
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let (version, cents) = if index == 0 { (&old, "00") } else { (&newest, "25") };
        version.write::<i64, String>(ledger, stop, index as u64 * 1_000_003, |call| {
            let value = (call % 100_000) as i64;
            (value, format!("n{value} {value}.{cents}"))
        });
    };
    let moves = [
        Deploy(0),
        RunOf(0, Phase::Expand),
        RunOf(0, Phase::Sync),
        RunOf(0, Phase::Backfill),
        RunOf(1, Phase::Expand),
        RunOf(1, Phase::Sync),
        Deploy(1),
        RunOf(1, Phase::Backfill),
        Stop(0),
        RunOf(0, Phase::Contract),
        RevertOf(0, Phase::Contract),
        Deploy(0),
        Stop(0),
        RunOf(0, Phase::Contract),
        RunOf(1, Phase::Contract),
        RevertOf(1, Phase::Contract),
        RunOf(1, Phase::Contract),
    ];
    run_moves(
        &db,
        &[&RenameName, &BalanceInDollars],
        &[&old, &newest],
        &write,
        &ledger,
        &moves,
    );
    let stored: BTreeMap<i64, String> = client
        .query("SELECT id, full_name || ' ' || balance FROM customers", &[])
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
    let view: String = client
        .query_one(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'",
            &[&zdm_plan::names::version_schema(BalanceInDollars.id())],
        )
        .unwrap()
        .get(0);
    assert_eq!(view, "id bigint, full_name text, balance numeric, city text");
}
