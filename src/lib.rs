//! What zdm's integration tests, UI tests and examples share: a fresh database per test,
//! and readings of the catalog and of table contents to assert on.

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use postgres::Client;
use zdm_runtime::testing::{FreshDatabase, RehearsalError};
use zdm_runtime::{BatchSize, Options, Runner};

pub use zdm_runtime::database_url;

/// Connects to `url`; when no server answers, prints one message saying how to point the
/// tests at a server and exits, instead of failing every test with a panic of its own.
pub fn connect_or_exit(url: &str) -> Client {
    match zdm_runtime::connect(url) {
        Ok(client) => client,
        Err(error) => {
            static REPORTED: OnceLock<()> = OnceLock::new();
            // Written to the process's stderr directly: the test harness captures `eprintln!`,
            // and the exit below would drop what it captured.
            REPORTED.get_or_init(|| {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "error: {error}");
            });
            std::process::exit(2);
        }
    }
}

/// A database of its own for one test, created empty and dropped when the test passes.
/// A failed test leaves it behind for inspection; the next run of the test replaces it.
pub struct TestDb {
    database: FreshDatabase,
}

impl TestDb {
    /// Creates (or re-creates) the database `zdm_<test_name>` with the test kit's
    /// [`FreshDatabase`] (on PostgreSQL 12 it gets `pgcrypto`, for `gen_random_uuid()`).
    pub fn new(test_name: &str) -> TestDb {
        match FreshDatabase::create(test_name) {
            Ok(database) => TestDb { database },
            Err(RehearsalError::Connect(error)) => {
                connect_or_exit(&database_url());
                panic!("{error}")
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        self.database.url()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.database.name()
    }

    /// A new connection to the database.
    pub fn connect(&self) -> Client {
        connect_or_exit(self.url())
    }

    /// A new connection to the database as `role` (the test servers trust local
    /// connections).
    pub fn connect_as(&self, role: &str) -> Client {
        let mut config = postgres::Config::from_str(self.url()).expect("the test database URL parses");
        config.user(role);
        config
            .connect(postgres::NoTls)
            .unwrap_or_else(|error| panic!("connecting as {role}: {error}"))
    }

    /// A runner with a lock policy sized for tests: short waits, small batches.
    pub fn runner(&self) -> Runner {
        self.runner_with(test_options())
    }

    /// A runner with the given options.
    pub fn runner_with(&self, options: Options) -> Runner {
        Runner::connect(self.url(), options).unwrap_or_else(|error| panic!("{error}"))
    }
}

/// The server messages a runner's session received; see [`TestDb::runner_with_notices`].
pub type Notices = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl TestDb {
    /// A runner whose session runs with `client_min_messages = debug1` and keeps every
    /// message the server sends it, such as PostgreSQL's note that existing constraints
    /// prove a column holds no NULL (so `SET NOT NULL` did not scan the table).
    pub fn runner_with_notices(&self) -> (Runner, Notices) {
        let notices = Notices::default();
        let sink = notices.clone();
        let mut config: postgres::Config = self.url().parse().expect("test database URL");
        config.notice_callback(move |notice| {
            sink.lock()
                .expect("notice sink")
                .push(notice.message().to_owned())
        });
        let mut client = config
            .connect(postgres::NoTls)
            .unwrap_or_else(|error| panic!("connecting to {}: {error}", self.name()));
        client
            .batch_execute("SET client_min_messages = debug1")
            .expect("SET client_min_messages");
        let runner = Runner::new(client, test_options()).unwrap_or_else(|error| panic!("{error}"));
        (runner, notices)
    }
}

/// Options for tests: waits of 200 ms within a 3 s budget, batches of 250 rows so that
/// small tables still take several batches, and no new version running through a version
/// schema.
pub fn test_options() -> Options {
    Options {
        lock_timeout: Duration::from_millis(200),
        statement_timeout: Duration::from_secs(60),
        scan_timeout: None,
        lock_budget: Duration::from_secs(3),
        batch: BatchSize::Fixed(250),
        // The suite's tests run one application version at a time unless they say
        // otherwise (tests/version_schemas.rs does), so reversals need not wait for one.
        new_version_stopped: true,
        ..Options::default()
    }
}

/// An order-independent digest of every row of `table`, to compare contents before and
/// after a phase and its reversal.
pub fn checksum(client: &mut Client, table: &str) -> String {
    client
        .query_one(
            &format!(
                "SELECT coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), 'empty') FROM {} AS r",
                zdm_runtime::quote_ident(table)
            ),
            &[],
        )
        .unwrap_or_else(|error| panic!("checksum of {table}: {error}"))
        .get(0)
}

/// A column as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: String,
    pub not_null: bool,
    pub default: Option<String>,
}

/// The columns of `table`, in order.
pub fn columns(client: &mut Client, table: &str) -> Vec<Column> {
    client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading columns")
        .iter()
        .map(|row| Column {
            name: row.get(0),
            ty: row.get(1),
            not_null: row.get(2),
            default: row.get(3),
        })
        .collect()
}

/// The column `name` of `table`, if it exists.
pub fn column(client: &mut Client, table: &str, name: &str) -> Option<Column> {
    columns(client, table)
        .into_iter()
        .find(|column| column.name == name)
}

/// `(name, valid, definition)` of every index of `table`.
pub fn indexes(client: &mut Client, table: &str) -> Vec<(String, bool, String)> {
    client
        .query(
            "SELECT c.relname::text, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1) ORDER BY 1",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading indexes")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// The names of the non-internal triggers on `table`.
pub fn triggers(client: &mut Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY 1",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading triggers")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `CREATE TRIGGER` statements of the non-internal triggers on `table`, as the server
/// prints them (`WHEN`, timing, events, columns, function), so that a trigger re-created
/// differently under the same name shows.
pub fn trigger_definitions(client: &mut Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal \
             ORDER BY tgname",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading trigger definitions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `CREATE FUNCTION` statements of every function, procedure and aggregate in the
/// database's own schemas (zdm's included), leaving out the system's and those that
/// belong to an extension. Sync functions live there, so one left behind by a reversal,
/// or re-created with another body, shows.
pub fn functions(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT p.oid::regprocedure::text || ': ' || CASE WHEN p.prokind = 'a' THEN 'aggregate' \
                    ELSE pg_get_functiondef(p.oid) END \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                               AND d.objid = p.oid AND d.deptype = 'e') \
             ORDER BY 1",
            &[],
        )
        .expect("reading functions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `(name, type, validated, definition)` of every constraint on `table`.
pub fn constraints(client: &mut Client, table: &str) -> Vec<(String, String, bool, String)> {
    client
        .query(
            "SELECT conname::text, contype::text, convalidated, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = to_regclass($1) ORDER BY 1",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading constraints")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

/// The SQLSTATE of the server error behind a runner's error, if there is one, so that a
/// test can tell a lost session or a unique violation from any other failure.
pub fn sqlstate(error: &zdm_runtime::Error) -> Option<&postgres::error::SqlState> {
    std::error::Error::source(error)?
        .downcast_ref::<postgres::Error>()?
        .code()
}

/// The server error behind a runner's error, if there is one: its fields (constraint,
/// table, message of a `RAISE`) do not vary between majors where its wording does.
pub fn db_error(error: &zdm_runtime::Error) -> Option<&postgres::error::DbError> {
    std::error::Error::source(error)?
        .downcast_ref::<postgres::Error>()?
        .as_db_error()
}

/// The server's `server_version_num`, e.g. 120022 or 180004, for the few expectations
/// that differ because PostgreSQL behaves differently (row security through views before
/// 15, NOT NULL constraints in `pg_constraint` from 18).
pub fn server_version_num(client: &mut Client) -> i32 {
    scalar::<String>(client, "SELECT current_setting('server_version_num')")
        .parse()
        .expect("server_version_num is a number")
}

/// Whether `notice` is PostgreSQL's note that existing constraints prove `table`.`column`
/// holds no NULL, so `SET NOT NULL` did not scan the table. The column is named
/// `"t"."c"` on 12 and `"t.c"` from 13 on; the words around it are the same.
pub fn proves_not_null(notice: &str, table: &str, column: &str) -> bool {
    notice
        .strip_prefix("existing constraints on column ")
        .and_then(|rest| rest.strip_suffix(" are sufficient to prove that it does not contain nulls"))
        .is_some_and(|named| named.replace('"', "") == format!("{table}.{column}"))
}

/// Whether `error` is `runner` finding its session terminated (`pg_terminate_backend`): a
/// failed step whose cause is the server's `admin_shutdown` when its goodbye arrived in
/// time, or else the driver's broken connection, and in both cases a client that is now
/// closed.
pub fn lost_its_session(runner: &mut Runner, error: &zdm_runtime::Error) -> bool {
    matches!(
        error,
        zdm_runtime::Error::Step { .. } | zdm_runtime::Error::State(_)
    ) && matches!(
        sqlstate(error),
        None | Some(&postgres::error::SqlState::ADMIN_SHUTDOWN)
    ) && runner.client().is_closed()
}

/// Runs one query returning a single value.
pub fn scalar<T: for<'a> postgres::types::FromSql<'a>>(client: &mut Client, sql: &str) -> T {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .get(0)
}

/// What a [`Writer`] does on each call.
type Write = dyn Fn(&mut Client, zdm_runtime::Phase, i64) + Send + Sync;

/// One simulated application version, for [`run_phases_under_load`].
pub struct Writer {
    name: &'static str,
    phases: std::ops::RangeInclusive<zdm_runtime::Phase>,
    write: Box<Write>,
}

impl Writer {
    /// A version that is deployed while `phases` run: `write` is called over and over on
    /// a connection of its own with the phase that is running (or just ran) and a counter
    /// unique to the call; each call performs at least one write and panics if one fails.
    /// Outside `phases` it is not called.
    pub fn new(
        name: &'static str,
        phases: std::ops::RangeInclusive<zdm_runtime::Phase>,
        write: impl Fn(&mut Client, zdm_runtime::Phase, i64) + Send + Sync + 'static,
    ) -> Writer {
        Writer {
            name,
            phases,
            write: Box::new(write),
        }
    }
}

/// How far one writer's thread has got, shared with the runner's observer.
#[derive(Default)]
struct WriterProgress {
    /// Calls that returned.
    writes: std::sync::atomic::AtomicU64,
    /// One more than the index of the phase the thread last picked up: every call made
    /// under an earlier phase has returned.
    phase: std::sync::atomic::AtomicUsize,
    /// The thread ended (a write failed, or the run is over).
    ended: std::sync::atomic::AtomicBool,
}

/// Sets a flag when dropped, unwinding included, so that a panic on one thread stops or
/// releases the others instead of leaving them waiting.
struct SetOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long a phase waits for a writer's next write before the test fails: far more than
/// a write takes, so reaching it means the writer is stuck or not writing.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// Waits until every writer in `live` has returned more calls than `marks` records, and
/// records the new counts; `None` once some writer's thread has ended (its panic is the
/// failure to report). Panics after [`WRITE_WAIT`] without a write, naming the writer.
fn wait_for_writes(
    progress: &[std::sync::Arc<WriterProgress>],
    names: &[&'static str],
    live: &[usize],
    marks: &mut [u64],
    moment: &dyn Fn() -> String,
) -> Option<()> {
    use std::sync::atomic::Ordering;
    let started = std::time::Instant::now();
    for (&index, mark) in live.iter().zip(marks.iter_mut()) {
        loop {
            if progress.iter().any(|writer| writer.ended.load(Ordering::SeqCst)) {
                return None;
            }
            let writes = progress[index].writes.load(Ordering::SeqCst);
            if writes > *mark {
                *mark = writes;
                break;
            }
            if started.elapsed() > WRITE_WAIT {
                panic!(
                    "{}: the {} made no write in {WRITE_WAIT:?} ({writes} so far)",
                    moment(),
                    names[index]
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Some(())
}

/// Runs every phase of `migration` in order while each writer writes from a thread of its
/// own, and proves that every writer deployed during a phase wrote while `Runner::run`
/// executed it: the phase's start and each of its steps are held until each of them has
/// completed a write since the previous hold, and the counts must have grown across the
/// phase. A phase starts only once no call made under the previous phase is still running
/// (an old version's write when contract drops the old shape), and the next is announced
/// once every writer has written a few more times under the phase that just ran.
pub fn run_phases_under_load(db: &TestDb, migration: &dyn zdm_runtime::Migration, writers: Vec<Writer>) {
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    use std::sync::Arc;
    use zdm_runtime::{Direction, Event, Phase};

    let current = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let counter = AtomicI64::new(0);
    let progress: Arc<Vec<Arc<WriterProgress>>> = Arc::new(writers.iter().map(|_| Arc::default()).collect());
    let names: Arc<Vec<&'static str>> = Arc::new(writers.iter().map(|writer| writer.name).collect());
    let mut runner = db.runner();
    std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .iter()
            .zip(progress.iter())
            .map(|(writer, progress)| {
                let (current, stop, counter) = (&current, &stop, &counter);
                let url = db.url().to_owned();
                scope.spawn(move || {
                    let _ended = SetOnDrop(&progress.ended);
                    let mut client = connect_or_exit(&url);
                    while !stop.load(Ordering::SeqCst) {
                        let phase_index = current.load(Ordering::SeqCst);
                        progress.phase.store(phase_index + 1, Ordering::SeqCst);
                        let phase = Phase::ALL[phase_index];
                        if writer.phases.contains(&phase) {
                            (writer.write)(&mut client, phase, counter.fetch_add(1, Ordering::SeqCst));
                            progress.writes.fetch_add(1, Ordering::SeqCst);
                        } else {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        // A panic on this thread must stop the writers, or the scope would wait for them
        // forever.
        let _stop = SetOnDrop(&stop);
        let ended = || progress.iter().any(|writer| writer.ended.load(Ordering::SeqCst));
        'phases: for (phase_index, phase) in Phase::ALL.into_iter().enumerate() {
            current.store(phase_index, Ordering::SeqCst);
            while progress
                .iter()
                .any(|writer| writer.phase.load(Ordering::SeqCst) != phase_index + 1)
            {
                if ended() {
                    break 'phases;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let live: Vec<usize> = (0..writers.len())
                .filter(|&index| writers[index].phases.contains(&phase))
                .collect();
            let count = |index: usize| progress[index].writes.load(Ordering::SeqCst);
            let before: Vec<u64> = live.iter().map(|&index| count(index)).collect();
            {
                let (progress, names, live) = (Arc::clone(&progress), Arc::clone(&names), live.clone());
                let mut marks = before.clone();
                runner.observe(move |event| {
                    let moment = match event {
                        Event::PhaseStarted {
                            direction: Direction::Forward,
                            ..
                        } => format!("{phase} started"),
                        Event::StepStarted { step, .. } => {
                            format!("{phase}, step \"{}\"", step.description)
                        }
                        _ => return,
                    };
                    let _ = wait_for_writes(&progress, &names, &live, &mut marks, &|| moment.clone());
                });
            }
            let outcome = runner.run(migration, phase);
            if ended() {
                break;
            }
            if let Err(error) = outcome {
                panic!("{phase} under load: {error}");
            }
            for (&index, before) in live.iter().zip(&before) {
                assert!(
                    count(index) > *before,
                    "the {} wrote nothing while {phase} ran",
                    names[index]
                );
            }
            let mut marks: Vec<u64> = live.iter().map(|&index| count(index) + 2).collect();
            if wait_for_writes(&progress, &names, &live, &mut marks, &|| format!("after {phase}")).is_none() {
                break;
            }
        }
        stop.store(true, Ordering::SeqCst);
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// An order-independent digest of every row of `table` that ignores column order too (a
/// column a reversal re-adds comes last): each row as a JSON object with sorted keys.
/// `"absent"` when there is no such table.
pub fn contents(client: &mut Client, table: &str) -> String {
    let table = zdm_runtime::quote_ident(table);
    scalar(
        client,
        &format!(
            "SELECT CASE WHEN to_regclass({literal}) IS NULL THEN 'absent' ELSE (SELECT coalesce(md5(string_agg(\
             to_jsonb(r)::text, E'\\n' ORDER BY to_jsonb(r)::text)), 'empty') FROM {table} AS r) END",
            literal = zdm_runtime::quote_literal(&table)
        ),
    )
}

/// Everything the catalog says about `table` that a change touches, sorted, so that states
/// can be compared: columns by name with type, collation, NOT NULL, default and comment;
/// indexes with validity and definition; constraints with validation and definition;
/// trigger definitions; and the definition of every function of the database's own
/// schemas (see [`functions`]), where sync triggers' functions live.
pub fn table_catalog(client: &mut Client, table: &str) -> Vec<String> {
    let mut lines: Vec<String> = client
        .query(
            "SELECT format('column %s %s collate %s not null %s default %s comment %s', a.attname, \
                    format_type(a.atttypid, a.atttypmod), coalesce((SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation), '-'), a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&zdm_runtime::quote_ident(table)],
        )
        .expect("reading columns")
        .iter()
        .map(|row| row.get(0))
        .collect();
    lines.extend(
        indexes(client, table)
            .into_iter()
            .map(|(name, valid, definition)| format!("index {name} valid {valid}: {definition}")),
    );
    lines.extend(
        constraints(client, table)
            .into_iter()
            .map(|(name, kind, valid, definition)| {
                format!("constraint {name} {kind} valid {valid}: {definition}")
            }),
    );
    lines.extend(
        trigger_definitions(client, table)
            .into_iter()
            .map(|definition| format!("trigger {definition}")),
    );
    lines.extend(
        functions(client)
            .into_iter()
            .map(|definition| format!("function {definition}")),
    );
    lines.sort();
    lines
}

/// Runs every phase before `phase`, then `phase` and its reversal, and checks that the
/// contents and catalog of `table` are what they were and that the state row is back at
/// the previous phase; then runs `phase` again, which must work after its reversal.
pub fn assert_revert_restores(
    db: &TestDb,
    migration: &dyn zdm_runtime::Migration,
    phase: zdm_runtime::Phase,
    table: &str,
) {
    assert_revert_restores_with(db, migration, phase, |client| {
        (table_catalog(client, table), contents(client, table))
    });
}

/// [`assert_revert_restores`] comparing what `snapshot` reads instead of one table, for
/// changes that touch several tables or zdm's own records.
pub fn assert_revert_restores_with<T: PartialEq + std::fmt::Debug>(
    db: &TestDb,
    migration: &dyn zdm_runtime::Migration,
    phase: zdm_runtime::Phase,
    snapshot: impl Fn(&mut Client) -> T,
) {
    let mut client = db.connect();
    let mut runner = db.runner();
    if let Some(previous) = phase.previous() {
        runner.run_to(migration, previous).unwrap();
    }
    let before = snapshot(&mut client);
    runner.run(migration, phase).unwrap();
    runner.revert(migration, phase).unwrap();
    assert_eq!(
        snapshot(&mut client),
        before,
        "catalog and contents after reverting {phase} of {}",
        migration.id()
    );
    assert_eq!(runner.state(migration).unwrap().completed, phase.previous());
    runner.run(migration, phase).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_null_proof_is_read_in_the_wording_of_every_major() {
        let tail = "are sufficient to prove that it does not contain nulls";
        for named in ["\"users\".\"email\"", "\"users.email\""] {
            let notice = format!("existing constraints on column {named} {tail}");
            assert!(proves_not_null(&notice, "users", "email"), "{notice}");
            assert!(!proves_not_null(&notice, "users", "name"), "{notice}");
        }
        assert!(!proves_not_null("verifying table \"users\"", "users", "email"));
    }
}
