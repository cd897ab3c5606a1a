//! The session every step runs in: one connection, the lock policy it is used under, and
//! the events it reports. Executors receive a [`Session`] and the [`StepContext`] of their
//! step; neither knows the runner, which owns the order of phases and steps.

mod blockers;
mod concurrent;
mod connect;
mod locks;
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lock_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(15 * 60),
            scan_timeout: None,
            lock_budget: Duration::from_secs(60),
            batch: BatchSize::Target(Duration::from_millis(200)),
            skip_user_triggers: false,
            state_schema: "zdm".to_owned(),
        }
    }
}

/// Receives the session's [`Event`]s.
pub(crate) type Observer = Box<dyn FnMut(&Event<'_>) + Send>;

/// A connection under the lock policy.
pub(crate) struct Session {
    client: Client,
    options: Options,
    observer: Option<Observer>,
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
