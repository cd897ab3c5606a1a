//! The session every step runs in: one connection, the lock policy it is used under, and
//! the events it reports. Executors receive a [`Session`] and the [`StepContext`] of their
//! step; neither knows the runner, which owns the order of phases and steps.

mod blockers;
mod concurrent;
mod connect;
mod locks;
mod replicas;
mod tls;

use std::time::Duration;

use postgres::Client;

use crate::error::{describe_statement, Error, Result};
use crate::events::Event;
use crate::statement::ExecuteOne;
use crate::store::StateSchema;
use zdm_plan::{Action, Phase, Plan, Step};

pub(crate) use connect::check_server_version;
pub use connect::{connect, database_url};
pub(crate) use locks::short_transaction;

/// How many rows a backfill batch touches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchSize {
    /// Always this many primary-key values per batch.
    Fixed(u32),
    /// Adapt the batch so that each takes about this long.
    Target(Duration),
}

/// How a backfill walks its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackfillRoute {
    /// Keyset pagination on the primary key: every row is found by its key, wherever
    /// updates move it, so it is safe for every operation. What every backfill that may
    /// not walk heap pages takes.
    PrimaryKey,
    /// Ranges of heap pages (`ctid >= '(p,0)' AND ctid < '(q,0)'`), read in physical order
    /// like one `UPDATE` reads them, for the backfills whose sync trigger fills every row
    /// the application writes (`add_column`, `add_not_null` and `add_foreign_key` with
    /// `backfill`): a row that an application update moves to a page the backfill has
    /// passed is not visited again. Every other backfill (`rename_column`'s trigger, for
    /// one, leaves a row whose update touched neither name as it was), older servers than
    /// 14 (TID range scans) and partitioned tables take the primary key. The default:
    /// with [`Options::backfill_workers`] and their latency guard, faster than the primary
    /// key with no application running, and gentler on a running one (`BENCHMARKS.md`,
    /// fifth round).
    HeapPages,
}

/// When bulk steps wait for streaming replicas (`pg_stat_replication`) to catch up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaLag {
    /// WAL bytes a replica may have left to replay.
    pub max_bytes: u64,
    /// How far behind a replica's replay may be (`replay_lag`).
    pub max_replay_lag: Duration,
    /// How often the lag is read again while waiting.
    pub poll: Duration,
}

impl Default for ReplicaLag {
    fn default() -> Self {
        ReplicaLag {
            max_bytes: 64 * 1024 * 1024,
            max_replay_lag: Duration::from_secs(10),
            poll: Duration::from_millis(500),
        }
    }
}

/// The lock policy and batch settings of a runner.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long one statement may wait for a lock before the step is rolled back and
    /// retried. Anything queued behind a waiting `ACCESS EXCLUSIVE` request waits too, so
    /// this bounds how long the application can be stalled by a step.
    pub lock_timeout: Duration,
    /// How long one statement of a transactional step may run: a bound on DDL, which
    /// holds locks the application waits for.
    pub statement_timeout: Duration,
    /// How long one statement of a step that scans a table under a lock blocking no read
    /// or write (`VALIDATE CONSTRAINT`, the checks of the data) may run; `None`, the
    /// default, for no limit. A scan of a large table may need more than
    /// `statement_timeout`, and failing it at the end would only leave the constraint
    /// NOT VALID.
    pub scan_timeout: Option<Duration>,
    /// The total time a step may spend retrying lock timeouts before it gives up.
    pub lock_budget: Duration,
    /// Batch sizing of backfills.
    pub batch: BatchSize,
    /// Whether backfill batches run with `session_replication_role = replica`, so the
    /// table's own triggers (a `set_updated_at`, an audit log) do not fire for the rows a
    /// backfill writes; PostgreSQL skips their foreign-key checks too. Setting it takes a
    /// superuser, or from PostgreSQL 15 a role granted `SET` on the parameter; expand
    /// refuses before any change when the role may not.
    pub skip_user_triggers: bool,
    /// The schema zdm keeps its state in (default `zdm`). A runner creates it when it is
    /// missing; one an administrator made is used as it is, so the migrating role needs no
    /// CREATE on the database.
    pub state_schema: String,
    /// How backfills walk their table.
    pub route: BackfillRoute,
    /// A `VACUUM` of the backfilled table after every so many rows written (or a twentieth
    /// of the table, when that is more), so that later batches reuse the space of the rows
    /// replaced before; 0 never vacuums.
    pub vacuum_every_rows: u64,
    /// At most this many rows per second, on average, in a backfill.
    pub max_rows_per_second: Option<u32>,
    /// A pause after each backfill batch.
    pub batch_pause: Duration,
    /// How many batches of a heap-page backfill ([`BackfillRoute::HeapPages`]) run at once,
    /// each on disjoint pages and on a connection of its own; 1 runs one at a time. The
    /// extra connections are opened at the runner's URL ([`Runner::connect`]), or with the
    /// function given to [`Runner::connect_workers_with`]; a runner with neither runs one.
    /// Default 2; the primary-key route always runs one batch at a time. Batches side by
    /// side take cores the application's writes wait for, so while a round runs and
    /// another session of the database has been active since the last (`pg_stat_activity`),
    /// one more connection times a transaction that writes one WAL record
    /// (`pg_logical_emit_message`): while the median of the last three rounds is more than
    /// twice its time before the backfill (and more than half a millisecond more), a round
    /// runs one batch fewer, and one more again after 20 rounds within a quarter of it
    /// ([`Event::BackfillWorkers`](crate::Event::BackfillWorkers)). A round with no other
    /// session active is not probed and counts as calm: with no application running, a
    /// slow commit slows nobody. Beside an application that ran a statement within the
    /// last second, the backfill starts with one batch, and a worker given back and
    /// dropped again within 20 rounds doubles the calm rounds the next one waits for (up
    /// to 640). A role that may not run that function backfills one batch at a time, and a
    /// connection the server refuses (`max_connections`, the role's `CONNECTION LIMIT`) is
    /// done without.
    ///
    /// [`Runner::connect`]: crate::Runner::connect
    /// [`Runner::connect_workers_with`]: crate::Runner::connect_workers_with
    pub backfill_workers: u32,
    /// Bulk steps (backfill batches, concurrent index builds) wait while a streaming
    /// replica lags more than this; `None` never waits.
    pub replica_lag: Option<ReplicaLag>,
    /// Lets a reversal throw away rows it would otherwise refuse to (`create_table`'s,
    /// dropping a table the new version has written to); its steps see the transaction
    /// setting `zdm.allow_data_loss` = `on`. The CLI's `revert --allow-data-loss` sets it.
    pub allow_data_loss: bool,
    /// The caller says no application version uses the migration's version schema any
    /// more; without it, reverting sync or expand of a migration whose new version writes
    /// through one is refused (the CLI's `--new-version-stopped`).
    pub new_version_stopped: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lock_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(15 * 60),
            scan_timeout: None,
            lock_budget: Duration::from_secs(60),
            // A write that wants a row a batch holds waits for the whole batch, so a batch's
            // length bounds that wait. 50 ms leaves room below the 100 ms a write may wait
            // for a batch that runs long on a busy machine; 80 ms left none, and the default
            // route lost no speed at 50 (`BENCHMARKS.md`, third round).
            batch: BatchSize::Target(Duration::from_millis(50)),
            skip_user_triggers: false,
            state_schema: "zdm".to_owned(),
            route: BackfillRoute::HeapPages,
            vacuum_every_rows: 50_000,
            max_rows_per_second: None,
            batch_pause: Duration::ZERO,
            // Two heap-page batches at once were faster than one in every 1M-row run on a
            // 2-core machine with no application running (BENCHMARKS.md); beside one, the
            // latency guard starts with one. The key route runs one regardless.
            backfill_workers: 2,
            replica_lag: Some(ReplicaLag::default()),
            allow_data_loss: false,
            new_version_stopped: false,
        }
    }
}

/// Receives the session's [`Event`]s.
pub(crate) type Observer = Box<dyn FnMut(&Event<'_>) + Send>;

/// Opens one more connection to the runner's database, for backfill workers.
pub(crate) type Connector = Box<dyn Fn() -> Result<Client> + Send + Sync>;

/// A connection under the lock policy.
pub(crate) struct Session {
    client: Client,
    options: Options,
    observer: Option<Observer>,
    /// How backfill workers beyond the first connect; `None` runs one batch at a time.
    connector: Option<Connector>,
    /// While a concurrent index build or drop runs: when it started (server clock), since
    /// the transactions older than it are what it waits for.
    concurrent_since: Option<String>,
}

impl Session {
    pub(crate) fn new(client: Client, options: Options) -> Session {
        Session {
            client,
            options,
            observer: None,
            connector: None,
            concurrent_since: None,
        }
    }

    pub(crate) fn observe(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    pub(crate) fn emit(&mut self, event: Event<'_>) {
        if let Some(observer) = &mut self.observer {
            observer(&event);
        }
    }

    pub(crate) fn set_connector(&mut self, connector: Connector) {
        self.connector = Some(connector);
    }

    /// A new connection for a backfill worker, when the session knows how to open one.
    pub(crate) fn connector(&self) -> Option<&Connector> {
        self.connector.as_ref()
    }

    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `work` under the scan timeout instead of the statement timeout, in its short
    /// transactions and in the statements it runs outside one.
    pub(crate) fn scanning<T>(&mut self, work: impl FnOnce(&mut Session) -> Result<T>) -> Result<T> {
        let scan = self.options.scan_timeout.unwrap_or(Duration::ZERO);
        let statement_timeout = std::mem::replace(&mut self.options.statement_timeout, scan);
        let outcome = self
            .client
            .execute_one(&format!("SET statement_timeout = {}", scan.as_millis()))
            .map_err(Error::Session)
            .and_then(|()| work(self));
        self.options.statement_timeout = statement_timeout;
        // A lost connection has reset everything already; `outcome` says what happened.
        let _ = self.client.execute_one("RESET statement_timeout");
        outcome
    }
}

/// Where the runner is in a plan; passed to the executor of one step.
pub(crate) struct StepContext<'a> {
    pub(crate) plan: &'static Plan,
    pub(crate) phase: Phase,
    pub(crate) index: usize,
    pub(crate) step: &'static Step,
    /// Where the step records its progress, and what the plan's `{state}` stands for.
    pub(crate) state: &'a StateSchema,
}

impl StepContext<'_> {
    pub(crate) fn failed(&self, source: postgres::Error) -> Error {
        self.failed_in(source, self.single_statement())
    }

    /// A failure of `statement`, which is shown with the error.
    pub(crate) fn failed_in(&self, source: postgres::Error, statement: Option<&str>) -> Error {
        Error::Step {
            migration: self.plan.id.to_string(),
            step: self.step.description.to_string(),
            message: describe_statement(&source, statement),
            source,
        }
    }

    /// The statement a step of one planned statement runs: what failed when it fails.
    /// Steps of several statements, and those whose SQL is made at run time, leave the
    /// statement to the code that runs it.
    fn single_statement(&self) -> Option<&str> {
        match &self.step.action {
            Action::Transaction(statements) if statements.len() == 1 => Some(&statements[0]),
            _ => None,
        }
    }

    /// Records that this step is done, for steps whose work is not transactional.
    pub(crate) fn advance(&self, session: &mut Session) -> Result<()> {
        crate::store::advance(session.client(), self.state, &self.plan.id, self.index)
    }
}
