//! Version schemas against a real PostgreSQL: the new application version sees the tables a
//! migration changes through views under their final names, selected by its search path,
//! while the old version keeps using the tables. Both write through every phase and
//! reversal with prepared statements, and neither sees an error or a changed result type.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::{FromSql, Type};
use postgres::Client;
use zdm_runtime::{zero_downtime, Migration, Options, Phase, Runner};
use zdm_suite::{connect_or_exit, test_options, TestDb};

/// Totals were integer cents; the new version writes numeric dollars.
#[zero_downtime(
    id = "orders_total_dollars",
    change_type(
        table = "orders",
        column = "Total",
        to = "numeric(12,2)",
        up = "\"Total\" / 100.0",
        down = "(\"Total\" * 100)::integer"
    )
)]
struct TotalInDollars;

/// A later migration of the same column: dollars back to bigint cents.
#[zero_downtime(
    id = "orders_total_cents_again",
    change_type(
        table = "orders",
        column = "Total",
        to = "bigint",
        up = "(\"Total\" * 100)::bigint",
        down = "\"Total\" / 100.0",
        default = "0"
    )
)]
struct TotalInCentsAgain;

/// A binary-coercible change of another column of the table: in place, at expand.
#[zero_downtime(
    id = "orders_note_varchar",
    change_type(table = "orders", column = "note", to = "varchar")
)]
struct NoteVarchar;

const ROWS: i64 = 2_000;

fn orders(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE orders (id bigserial PRIMARY KEY, \"Total\" integer NOT NULL DEFAULT 0, note text);
             INSERT INTO orders (\"Total\", note) SELECT n * 3, 'seed' FROM generate_series(1, {ROWS}) AS n;"
        ))
        .unwrap();
    client
}

/// The search path of the new version: its version schema first, then what it had.
fn new_version_url(db: &TestDb, migration: &dyn Migration) -> String {
    let schema = zdm_plan::names::version_schema(migration.id());
    format!("{}?options=-c%20search_path%3D{schema}%2Cpublic", db.url())
}

/// A NUMERIC result, accepted only as NUMERIC: a prepared statement whose result type
/// changed under it fails to read.
struct Numeric;

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, _: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Numeric)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// What the last writer of each row meant, in cents; writes and their record happen under
/// the lock, so "last" is well defined.
type Ledger = Mutex<BTreeMap<i64, i64>>;

/// Whether a version is deployed, and how many writes it has made.
#[derive(Default)]
struct Version {
    deployed: AtomicBool,
    writes: AtomicU64,
}

impl Version {
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
}

/// The row a call writes: one of the seeded rows, spread over the table.
fn row_of(call: u64) -> i64 {
    (call.wrapping_mul(2_654_435_761) % ROWS as u64) as i64 + 1
}

/// The old version: integer cents on the table, prepared once.
fn old_writer(url: &str, version: &Version, ledger: &Ledger, stop: &AtomicBool) {
    let mut client = connect_or_exit(url);
    let update = client
        .prepare("UPDATE orders SET \"Total\" = $1 WHERE id = $2")
        .unwrap();
    let insert = client
        .prepare("INSERT INTO orders (\"Total\", note) VALUES ($1, 'old') RETURNING id")
        .unwrap();
    let read = client
        .prepare("SELECT \"Total\" FROM orders WHERE id = $1")
        .unwrap();
    let mut call = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let mut ledger = ledger.lock().unwrap();
        if !version.deployed.load(Ordering::SeqCst) {
            drop(ledger);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        call += 1;
        let cents = (call % 100_000) as i32;
        let id = if call.is_multiple_of(5) {
            client
                .query_one(&insert, &[&cents])
                .unwrap_or_else(|e| failed("old insert", &e))
                .get(0)
        } else {
            let id = row_of(call);
            client
                .execute(&update, &[&cents, &id])
                .unwrap_or_else(|e| failed("old update", &e));
            id
        };
        ledger.insert(id, i64::from(cents));
        let _: Option<i32> = client
            .query_one(&read, &[&id])
            .unwrap_or_else(|e| failed("old read", &e))
            .get(0);
        version.writes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The new version: numeric dollars through its version schema, prepared once.
fn new_writer(url: &str, version: &Version, ledger: &Ledger, stop: &AtomicBool) {
    // It starts when deployed: a statement prepared before expand would resolve to the
    // table of the old shape, as a new version started too early would.
    while !version.deployed.load(Ordering::SeqCst) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut client = connect_or_exit(url);
    let update = client
        .prepare("UPDATE orders SET \"Total\" = $1::text::numeric WHERE id = $2")
        .unwrap();
    let insert = client
        .prepare(
            "INSERT INTO orders (\"Total\", note) VALUES ($1::text::numeric, 'new') RETURNING id, \"Total\"",
        )
        .unwrap();
    let read = client
        .prepare("SELECT \"Total\" FROM orders WHERE id = $1")
        .unwrap();
    let mut call = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let mut ledger = ledger.lock().unwrap();
        if !version.deployed.load(Ordering::SeqCst) {
            drop(ledger);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        call += 1;
        let cents = (call * 7 % 100_000) as i64;
        let dollars = format!("{}.{:02}", cents / 100, cents % 100);
        let id = if call.is_multiple_of(5) {
            let row = client
                .query_one(&insert, &[&dollars])
                .unwrap_or_else(|e| failed("new insert", &e));
            let _: Numeric = row.get(1);
            row.get(0)
        } else {
            let id = row_of(call + 1_000_003);
            client
                .execute(&update, &[&dollars, &id])
                .unwrap_or_else(|e| failed("new update", &e));
            id
        };
        ledger.insert(id, cents);
        let row = client
            .query_one(&read, &[&id])
            .unwrap_or_else(|e| failed("new read", &e));
        let _: Option<Numeric> = row.try_get(0).unwrap_or_else(|e| failed("new read's type", &e));
        version.writes.fetch_add(1, Ordering::SeqCst);
    }
}

fn failed(what: &str, error: &postgres::Error) -> ! {
    match error.as_db_error() {
        Some(db) => panic!("{what}: {} ({:?})", db.message(), db.code()),
        None => panic!("{what}: {error}"),
    }
}

/// The columns of the new version's view of `orders`: names and types, in order.
fn view_shape(client: &mut Client, schema: &str) -> Vec<(String, String)> {
    client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'orders' ORDER BY ordinal_position",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn shape(columns: &[(&str, &str)]) -> Vec<(String, String)> {
    columns
        .iter()
        .map(|(name, ty)| (name.to_string(), ty.to_string()))
        .collect()
}

/// The cents→dollars case: old writers (cents, on the table) and new writers (dollars,
/// through the version schema) across expand, sync, backfill, contract, the reversal of
/// contract and of backfill, and forward again. Old writers stop before each contract and
/// resume after its reversal; new writers run from sync on. No write fails, the view keeps
/// its shape throughout, and every row holds what its last writer meant.
#[test]
fn cents_to_dollars_under_both_versions() {
    let db = TestDb::new("vs_cents_to_dollars");
    let mut client = orders(&db);
    let schema = zdm_plan::names::version_schema(TotalInDollars.id());
    let ledger: Ledger = Mutex::new((1..=ROWS).map(|id| (id, id * 3)).collect());
    let (old, new) = (Version::default(), Version::default());
    let stop = AtomicBool::new(false);
    let new_url = new_version_url(&db, &TotalInDollars);
    // The new version runs throughout: no reversal may assume it stopped.
    let mut runner = db.runner_with(Options {
        new_version_stopped: false,
        ..test_options()
    });
    let dollars = shape(&[("id", "bigint"), ("Total", "numeric"), ("note", "text")]);
    std::thread::scope(|scope| {
        let old_thread = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            old_writer(db.url(), &old, &ledger, &stop)
        });
        let new_thread = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            new_writer(&new_url, &new, &ledger, &stop)
        });
        let _stop = StopOnDrop(&stop);
        let deploy = |version: &Version, deployed: bool| {
            let _ledger = ledger.lock().unwrap();
            version.deployed.store(deployed, Ordering::SeqCst);
        };
        let step = |phase: Phase, forward: bool, runner: &mut Runner, client: &mut Client| {
            let outcome = if forward {
                runner.run(&TotalInDollars, phase)
            } else {
                runner.revert(&TotalInDollars, phase)
            };
            outcome.unwrap_or_else(|error| panic!("{phase} (forward: {forward}): {error}"));
            assert_eq!(
                view_shape(client, &schema),
                dollars,
                "after {phase} (forward: {forward})"
            );
            for version in [&old, &new] {
                if version.deployed.load(Ordering::SeqCst) {
                    version.wait_for_writes(20, &stop);
                }
            }
        };
        deploy(&old, true);
        old.wait_for_writes(20, &stop);
        step(Phase::Expand, true, &mut runner, &mut client);
        step(Phase::Sync, true, &mut runner, &mut client);
        deploy(&new, true);
        step(Phase::Backfill, true, &mut runner, &mut client);
        deploy(&old, false);
        step(Phase::Contract, true, &mut runner, &mut client);
        step(Phase::Contract, false, &mut runner, &mut client);
        deploy(&old, true);
        step(Phase::Backfill, false, &mut runner, &mut client);
        // The new version reads through its view: reverting the backfill keeps what it reads.
        let unread: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {schema}.orders WHERE \"Total\" IS NULL"),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            unread, 0,
            "rows the new version would read as NULL after reverting backfill"
        );
        step(Phase::Backfill, true, &mut runner, &mut client);
        deploy(&old, false);
        step(Phase::Contract, true, &mut runner, &mut client);
        stop.store(true, Ordering::SeqCst);
        for thread in [old_thread, new_thread] {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let stored: BTreeMap<i64, i64> = client
        .query("SELECT id, (\"Total\" * 100)::bigint FROM orders", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let meant = ledger.into_inner().unwrap();
    let wrong: Vec<_> = meant
        .iter()
        .filter(|(id, cents)| stored.get(id) != Some(cents))
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "rows not as their last writer meant (id, cents): {wrong:?}"
    );
    assert_eq!(
        stored.len(),
        meant.len(),
        "every row written is there, and no other"
    );
    assert!(old.writes.load(Ordering::SeqCst) > 0 && new.writes.load(Ordering::SeqCst) > 0);
}

/// Sets the flag when dropped, so a panicking thread stops the others.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Reverting sync or expand while the new version may still write through the version
/// schema is refused, naming the schema, and changes nothing; with the new version
/// declared stopped, expand's reversal drops the schema.
#[test]
fn reversals_that_would_break_the_new_version_are_refused() {
    let db = TestDb::new("vs_refused_reversals");
    let mut client = orders(&db);
    let schema = zdm_plan::names::version_schema(TotalInDollars.id());
    let running = || {
        db.runner_with(Options {
            new_version_stopped: false,
            ..test_options()
        })
    };
    let mut runner = running();
    runner.run_to(&TotalInDollars, Phase::Sync).unwrap();
    let error = runner.revert(&TotalInDollars, Phase::Sync).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "orders_total_dollars: refused before any change: reverting sync stops copying what the new version \
             writes through the version schema to the columns the old version reads; stop every application \
             version with {schema} on its search_path, then revert with --new-version-stopped \
             (Options::new_version_stopped)"
        )
    );
    assert_eq!(
        runner.state(&TotalInDollars).unwrap().completed,
        Some(Phase::Sync)
    );
    drop(runner);
    let mut stopped = db.runner();
    stopped.revert(&TotalInDollars, Phase::Sync).unwrap();
    drop(stopped);
    let mut runner = running();
    let error = runner.revert(&TotalInDollars, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("reverting expand drops the version schema the new version reads and writes through"),
        "{error}"
    );
    assert_eq!(
        view_shape(&mut client, &schema).len(),
        3,
        "the view is still there"
    );
    drop(runner);
    let mut stopped = db.runner();
    stopped.revert(&TotalInDollars, Phase::Expand).unwrap();
    let left: i64 = client
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = $1", &[&schema])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "reverting expand drops the version schema");
}

/// After the first migration's contract, the version deployed on its version schema is the
/// old version of a second migration of the same column: its view keeps serving it (dollars)
/// while the second one's view shows bigint cents, and the second contract drops the
/// first schema, keeping its own.
#[test]
fn a_later_migration_keeps_the_earlier_version_schema_until_its_contract() {
    let db = TestDb::new("vs_later_migration");
    let mut client = orders(&db);
    let (first, second) = (
        zdm_plan::names::version_schema(TotalInDollars.id()),
        zdm_plan::names::version_schema(TotalInCentsAgain.id()),
    );
    let mut runner = db.runner();
    runner.run_to(&TotalInDollars, Phase::Contract).unwrap();
    let mut deployed = connect_or_exit(&new_version_url(&db, &TotalInDollars));
    let read = deployed
        .prepare("SELECT \"Total\"::text FROM orders WHERE id = 7")
        .unwrap();
    runner.run_to(&TotalInCentsAgain, Phase::Backfill).unwrap();
    let dollars: String = deployed.query_one(&read, &[]).unwrap().get(0);
    assert_eq!(
        dollars, "0.21",
        "the first version still reads dollars through its view"
    );
    assert_eq!(
        view_shape(&mut client, &second),
        shape(&[("id", "bigint"), ("Total", "bigint"), ("note", "text")])
    );
    runner.run(&TotalInCentsAgain, Phase::Contract).unwrap();
    assert!(
        view_shape(&mut client, &first).is_empty(),
        "the first version schema's view is gone"
    );
    let schemas: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'zdm\\_v\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(schemas, vec![second.clone()]);
    let mut newest = connect_or_exit(&new_version_url(&db, &TotalInCentsAgain));
    let cents: i64 = newest
        .query_one("SELECT \"Total\" FROM orders WHERE id = 7", &[])
        .unwrap()
        .get(0);
    assert_eq!(cents, 21);
    // After the second contract's reversal the first version may run again: its view is
    // back, with the shape it had.
    runner.revert(&TotalInCentsAgain, Phase::Contract).unwrap();
    assert_eq!(
        view_shape(&mut client, &first),
        shape(&[("id", "bigint"), ("Total", "numeric"), ("note", "text")])
    );
    let mut again = connect_or_exit(&new_version_url(&db, &TotalInDollars));
    let dollars: String = again
        .query_one("SELECT \"Total\"::text FROM orders WHERE id = 7", &[])
        .unwrap()
        .get(0);
    assert_eq!(dollars, "0.21");
}

/// The views are owned like their table and carry its grants (and `security_invoker` from
/// PostgreSQL 15), take INSERT … ON CONFLICT … RETURNING, and survive a later migration
/// that changes another column's type in place, owner and grants included.
#[test]
fn views_are_owned_and_granted_like_their_table_and_survive_an_in_place_change() {
    let db = TestDb::new("vs_owned_and_granted");
    let mut client = orders(&db);
    let reader = "zdm_vs_reader";
    client
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {reader}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT, INSERT ON orders TO {reader};"
        ))
        .unwrap();
    let schema = zdm_plan::names::version_schema(TotalInDollars.id());
    let view = format!("{schema}.orders");
    let mut runner = db.runner();
    runner.run_to(&TotalInDollars, Phase::Contract).unwrap();
    let facts = |client: &mut Client| -> (String, bool, bool, Option<Vec<String>>) {
        let row = client
            .query_one(
                "SELECT pg_get_userbyid(c.relowner)::text, has_table_privilege($2, c.oid, 'INSERT'), \
                        has_table_privilege($2, c.oid, 'DELETE'), c.reloptions::text[] \
                 FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[&view, &reader],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    };
    let owner: String = client
        .query_one(
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'orders'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    let invoker = (zdm_suite::server_version_num(&mut client) >= 150_000)
        .then(|| vec!["security_invoker=true".to_owned()]);
    let expected = (owner, true, false, invoker);
    assert_eq!(facts(&mut client), expected);
    let row = client
        .query_one(
            &format!(
                "INSERT INTO {view} (id, \"Total\", note) VALUES (1, 12.5, 'upserted') \
                 ON CONFLICT (id) DO UPDATE SET \"Total\" = EXCLUDED.\"Total\" RETURNING \"Total\"::text, note"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("12.50".to_owned(), "seed".to_owned())
    );
    runner.run(&NoteVarchar, Phase::Expand).unwrap();
    assert_eq!(
        facts(&mut client),
        expected,
        "the earlier view is back, owned and granted as before"
    );
    assert_eq!(
        view_shape(&mut client, &schema),
        shape(&[
            ("id", "bigint"),
            ("Total", "numeric"),
            ("note", "character varying")
        ])
    );
}

/// The application names its version schema from the declarations at compile time.
#[test]
fn the_search_path_comes_from_the_declarations() {
    assert_eq!(TotalInDollars::VERSION_SCHEMA, "zdm_v_orders_total_dollars");
    zdm_runtime::migrations!(static LIST = [TotalInDollars, TotalInCentsAgain]);
    assert_eq!(
        zdm_runtime::version_search_path(LIST),
        "zdm_v_orders_total_cents_again, zdm_v_orders_total_dollars"
    );
}
