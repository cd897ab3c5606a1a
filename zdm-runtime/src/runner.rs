//! The runner: executes the phases of a plan against a live database in order, one step at
//! a time, under the lock policy, recording progress in the `zdm` schema.

use std::str::FromStr;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Transaction};

use crate::backfill;
use crate::carry;
use crate::error::{describe, with_causes, Blocker, Error, Result};
use crate::events::Event;
use crate::state::{self, Direction, MigrationState};
use zdm_plan::{Action, Check, Expectation, Migration, Phase, Plan, Step};

/// The oldest server zdm runs against: `SET NOT NULL` skips its table scan when a valid
/// `CHECK (col IS NOT NULL)` exists only from PostgreSQL 12 on.
const MIN_SERVER_VERSION: i32 = 120_000;

/// The key of the session-level advisory lock that keeps two runners apart ("zdm").
const RUNNER_LOCK_KEY: i64 = 0x007a_646d;

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
    /// How long one statement of a transactional step may run.
    pub statement_timeout: Duration,
    /// The total time a step may spend retrying lock timeouts before it gives up.
    pub lock_budget: Duration,
    /// Batch sizing of backfills.
    pub batch: BatchSize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lock_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(15 * 60),
            lock_budget: Duration::from_secs(60),
            batch: BatchSize::Target(Duration::from_millis(200)),
        }
    }
}

/// What one step did.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The step's description.
    pub description: &'static str,
    /// Wall time, retries included.
    pub duration: Duration,
    /// Rows written (backfills) or checked (preconditions).
    pub rows: u64,
    /// Lock attempts that timed out before the step went through.
    pub lock_retries: u32,
    /// Whether the step found its work already done (an index built by an earlier run).
    pub already_done: bool,
    /// What the step decided at run time, when that is worth saying (a type changed in
    /// place, a step skipped because of it).
    pub note: Option<String>,
}

/// What one phase, or one reversal, did.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// Forward or reversal.
    pub direction: Direction,
    /// Whether the run picked up an interrupted run of the same phase.
    pub resumed: bool,
    /// The steps run by this call, in order.
    pub steps: Vec<StepReport>,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: Duration = self.steps.iter().map(|step| step.duration).sum();
        let verb = match self.direction {
            Direction::Forward => "",
            Direction::Reverse => "revert ",
        };
        let resumed = if self.resumed { ", resumed" } else { "" };
        let steps = match self.steps.len() {
            1 => "1 step".to_owned(),
            count => format!("{count} steps"),
        };
        writeln!(
            f,
            "{verb}{} ({steps}, {} ms{resumed})",
            self.phase,
            total.as_millis()
        )?;
        if self.steps.is_empty() {
            writeln!(f, "  nothing to do")?;
        }
        for step in &self.steps {
            write!(f, "  - {} ({} ms", step.description, step.duration.as_millis())?;
            if step.rows > 0 {
                write!(f, ", {} rows", step.rows)?;
            }
            if step.lock_retries > 0 {
                write!(f, ", {} lock retries", step.lock_retries)?;
            }
            if step.already_done {
                write!(f, ", already done")?;
            }
            if let Some(note) = &step.note {
                write!(f, "; {note}")?;
            }
            writeln!(f, ")")?;
        }
        Ok(())
    }
}

/// The database URL from `DATABASE_URL`, or the local default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Executes migrations against one database. Holds a session-level advisory lock for its
/// whole life, so a second runner on the same database is refused.
pub struct Runner {
    client: Client,
    options: Options,
    observer: Option<Observer>,
    /// While a concurrent index build or drop runs: when it started (server clock), since
    /// the transactions older than it are what it waits for.
    concurrent_since: Option<String>,
}

/// Receives the runner's [`Event`]s.
type Observer = Box<dyn FnMut(&Event<'_>) + Send>;

impl Runner {
    /// Connects to `url`, checks the server version, takes the runner lock and creates the
    /// `zdm` state schema if needed.
    pub fn connect(url: &str, options: Options) -> Result<Runner> {
        Runner::new(connect(url)?, options)
    }

    /// Like [`Runner::connect`], over a client the caller opened.
    pub fn new(mut client: Client, options: Options) -> Result<Runner> {
        check_server_version(&mut client)?;
        // Idempotent steps (`DROP … IF EXISTS`) would otherwise print NOTICEs; a session
        // that asked for more (debug messages) keeps its setting.
        client
            .batch_execute(
                "DO $$ BEGIN IF current_setting('client_min_messages') = 'notice' THEN \
                 PERFORM set_config('client_min_messages', 'warning', false); END IF; END $$",
            )
            .map_err(Error::State)?;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&RUNNER_LOCK_KEY])
            .map_err(Error::State)?
            .get(0);
        if !locked {
            return Err(Error::Busy {
                holder: runner_lock_holder(&mut client)?,
            });
        }
        state::ensure_schema(&mut client)?;
        Ok(Runner {
            client,
            options,
            observer: None,
            concurrent_since: None,
        })
    }

    /// Calls `observer` with every [`Event`]: steps starting and finishing, lock waits with
    /// the sessions blocking them, backfill progress.
    pub fn observe(&mut self, observer: impl FnMut(&Event<'_>) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    pub(crate) fn emit(&mut self, event: Event<'_>) {
        if let Some(observer) = &mut self.observer {
            observer(&event);
        }
    }

    /// The connection, for callers that want to look at the database between phases.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The settings in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Where a migration stands.
    pub fn state(&mut self, migration: &dyn Migration) -> Result<MigrationState> {
        state::load(&mut self.client, migration.id())
    }

    /// Runs one phase. It must be the phase after the last completed one, or the phase
    /// whose earlier run failed or was interrupted, which resumes at the step it stopped.
    pub fn run(&mut self, migration: &dyn Migration, phase: Phase) -> Result<PhaseReport> {
        self.execute(migration.plan(), phase, Direction::Forward)
    }

    /// Undoes one phase: the last completed one, or one whose run failed or was
    /// interrupted.
    pub fn revert(&mut self, migration: &dyn Migration, phase: Phase) -> Result<PhaseReport> {
        self.execute(migration.plan(), phase, Direction::Reverse)
    }

    /// Runs every phase not yet completed, up to and including `last`.
    pub fn run_to(&mut self, migration: &dyn Migration, last: Phase) -> Result<Vec<PhaseReport>> {
        let mut reports = Vec::new();
        loop {
            let state = self.state(migration)?;
            let next = match (state.running, state.completed) {
                (Some((phase, Direction::Forward)), _) => phase,
                (_, None) => Phase::Expand,
                (_, Some(done)) if done >= last => return Ok(reports),
                (_, Some(done)) => done.next().expect("a phase before `last` has a successor"),
            };
            if next > last {
                return Ok(reports);
            }
            reports.push(self.run(migration, next)?);
        }
    }

    fn execute(&mut self, plan: &'static Plan, phase: Phase, direction: Direction) -> Result<PhaseReport> {
        let checksum = plan.checksum();
        let state = state::load(&mut self.client, &plan.id)?;
        check_order(plan, &state, phase, direction, &checksum)?;
        let resumed = state.running == Some((phase, direction));
        let first_step = if resumed { state.step as usize } else { 0 };
        if !resumed {
            state::begin(&mut self.client, plan, phase, direction, &checksum)?;
        }
        let steps = match direction {
            Direction::Forward => &plan.phase(phase).forward,
            Direction::Reverse => &plan.phase(phase).reverse,
        };
        let mut report = PhaseReport {
            phase,
            direction,
            resumed,
            steps: Vec::new(),
        };
        self.emit(Event::PhaseStarted {
            migration: &plan.id,
            phase,
            direction,
            resumed,
            steps: steps.len().saturating_sub(first_step),
        });
        for (index, step) in steps.iter().enumerate().skip(first_step) {
            let context = StepContext {
                plan,
                phase,
                index,
                step,
            };
            self.emit(Event::StepStarted {
                migration: &plan.id,
                phase,
                index,
                step,
            });
            match self.run_step(&context) {
                Ok(step_report) => {
                    self.emit(Event::StepFinished {
                        migration: &plan.id,
                        report: &step_report,
                    });
                    report.steps.push(step_report);
                }
                Err(error) => {
                    // The state row keeps the phase as running, so the next call resumes or
                    // reverts it; the message is kept for `status`.
                    let _ = state::record_error(&mut self.client, &plan.id, &error.to_string());
                    return Err(error);
                }
            }
        }
        state::finish(&mut self.client, &plan.id, phase, direction)?;
        Ok(report)
    }

    fn run_step(&mut self, context: &StepContext) -> Result<StepReport> {
        let started = Instant::now();
        let mut report = StepReport {
            description: &context.step.description,
            duration: Duration::ZERO,
            rows: 0,
            lock_retries: 0,
            already_done: false,
            note: None,
        };
        match &context.step.action {
            Action::Transaction(statements) => {
                report.lock_retries = self.in_transaction(context, |transaction| {
                    for statement in statements.iter() {
                        transaction.batch_execute(statement)?;
                    }
                    Ok(())
                })?;
            }
            Action::Expect(expectation) => {
                check_expectation(&mut self.client, context.plan, expectation)?;
                state::advance(&mut self.client, &context.plan.id, context.index)?;
            }
            Action::Check(check) => {
                report.rows = run_check(&mut self.client, context, check)?;
                state::advance(&mut self.client, &context.plan.id, context.index)?;
            }
            Action::CreateIndexConcurrently { index, sql } => {
                report.already_done = self.create_index_concurrently(context, index, sql)?;
                state::advance(&mut self.client, &context.plan.id, context.index)?;
            }
            Action::DropIndexConcurrently { sql, .. } => {
                self.outside_transaction(context, sql)?;
                state::advance(&mut self.client, &context.plan.id, context.index)?;
            }
            Action::Backfill(spec) => {
                let outcome = backfill::run(self, context, spec)?;
                report.rows = outcome.rows;
                report.lock_retries = outcome.lock_retries;
            }
            Action::Split(split) => {
                report.lock_retries = crate::split::run(self, context, split)?;
            }
            Action::Carry(spec) => {
                let outcome = carry::run(self, context, spec)?;
                report.rows = outcome.rows;
                report.lock_retries = outcome.lock_retries;
                report.already_done = outcome.already_done;
                report.note = outcome.note;
            }
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Runs `work` in a short transaction under `lock_timeout`, together with the step's
    /// state update, retrying lock timeouts with exponential backoff and jitter within the
    /// lock budget. Returns how many attempts timed out.
    pub(crate) fn in_transaction(
        &mut self,
        context: &StepContext,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        self.with_lock_retries(context, |client, options| {
            let mut transaction = short_transaction(client, options)?;
            work(&mut transaction)?;
            state::advance_in(&mut transaction, &context.plan.id, context.index)?;
            transaction.commit()
        })
    }

    /// Retries `attempt` while it fails with a lock timeout and the budget lasts; the
    /// final error names the sessions holding locks on the step's table.
    pub(crate) fn with_lock_retries(
        &mut self,
        context: &StepContext,
        mut attempt: impl FnMut(&mut Client, &Options) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        let started = Instant::now();
        let mut delay = self.options.lock_timeout.min(Duration::from_millis(100));
        let mut timeouts = 0;
        let mut blockers = Vec::new();
        loop {
            match attempt(&mut self.client, &self.options) {
                Ok(()) => return Ok(timeouts),
                Err(error) if Error::is_lock_timeout(&error) => {
                    timeouts += 1;
                    let mut now_blocking = match &context.step.table {
                        Some(table) => lock_holders(&mut self.client, table)?,
                        None => Vec::new(),
                    };
                    if let Some(since) = &self.concurrent_since {
                        for old in older_transactions(&mut self.client, since)? {
                            if now_blocking.iter().all(|blocker| blocker.pid != old.pid) {
                                now_blocking.push(old);
                            }
                        }
                    }
                    if !now_blocking.is_empty() {
                        blockers = now_blocking;
                    }
                    let pause = jitter(delay);
                    if started.elapsed() + pause + self.options.lock_timeout > self.options.lock_budget {
                        return Err(Error::LockTimeout {
                            migration: context.plan.id.to_string(),
                            step: context.step.description.to_string(),
                            attempts: timeouts,
                            lock_timeout: self.options.lock_timeout,
                            budget: self.options.lock_budget,
                            blockers,
                        });
                    }
                    self.emit(Event::LockWait {
                        migration: &context.plan.id,
                        step: context.step,
                        attempt: timeouts,
                        blockers: &blockers,
                        retry_in: pause,
                    });
                    std::thread::sleep(pause);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(error) => return Err(context.failed(error)),
            }
        }
    }

    pub(crate) fn outside_transaction(&mut self, context: &StepContext, sql: &str) -> Result<u32> {
        // Concurrent index builds and drops wait for every older transaction to end; that
        // wait blocks no application query, so it gets the whole budget at once instead
        // of short attempts that would throw away a finished table scan.
        let wait = self.options.lock_budget;
        let since: String = self
            .client
            .query_one("SELECT clock_timestamp()::text", &[])
            .map_err(Error::State)?
            .get(0);
        self.concurrent_since = Some(since);
        let outcome = self.with_lock_retries(context, |client, _| {
            client.batch_execute(&format!(
                "SET lock_timeout = {}; SET statement_timeout = 0",
                wait.as_millis().max(1)
            ))?;
            let outcome = client.batch_execute(sql);
            client.batch_execute("RESET lock_timeout; RESET statement_timeout")?;
            outcome
        });
        self.concurrent_since = None;
        outcome
    }

    /// Builds an index concurrently; returns whether a valid index of that name was
    /// already there.
    pub(crate) fn create_index_concurrently(
        &mut self,
        context: &StepContext,
        index: &str,
        sql: &str,
    ) -> Result<bool> {
        let quoted = zdm_plan::sql::quote_ident(index);
        let valid: Option<bool> = self
            .client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                &[&quoted],
            )
            .map_err(|error| context.failed(error))?
            .map(|row| row.get(0));
        match valid {
            Some(true) => return Ok(true),
            Some(false) => {
                // A build that failed or was killed leaves an INVALID index that is still
                // maintained on every write; it must go before the retry.
                self.outside_transaction(context, &format!("DROP INDEX CONCURRENTLY IF EXISTS {quoted}"))?;
            }
            None => {}
        }
        let outcome = self.outside_transaction(context, sql);
        if outcome.is_err() {
            let _ = self
                .client
                .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {quoted}"));
        }
        outcome.map(|_| false)
    }
}

/// A transaction under the runner's lock policy: no statement in it waits longer than
/// `lock_timeout` for a lock or runs longer than `statement_timeout`.
pub(crate) fn short_transaction<'a>(
    client: &'a mut Client,
    options: &Options,
) -> Result<Transaction<'a>, postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
        options.lock_timeout.as_millis().max(1),
        options.statement_timeout.as_millis()
    ))?;
    Ok(transaction)
}

/// Where the runner is in a plan; passed to the pieces that run one step.
pub(crate) struct StepContext {
    pub(crate) plan: &'static Plan,
    pub(crate) phase: Phase,
    pub(crate) index: usize,
    pub(crate) step: &'static Step,
}

impl StepContext {
    pub(crate) fn failed(&self, source: postgres::Error) -> Error {
        Error::Step {
            migration: self.plan.id.to_string(),
            step: self.step.description.to_string(),
            message: describe(&source),
            source,
        }
    }
}

/// Opens a connection with a short connect timeout, so a missing server is reported at
/// once instead of hanging.
pub fn connect(url: &str) -> Result<Client> {
    let mut config = postgres::Config::from_str(url).map_err(|source| Error::Connect {
        target: "an unparsable DATABASE_URL".to_owned(),
        reason: with_causes(&source),
        source,
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.connect(NoTls).map_err(|source| Error::Connect {
        target: describe_target(&config),
        reason: with_causes(&source),
        source,
    })
}

fn describe_target(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

fn check_server_version(client: &mut Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .map_err(Error::State)?;
    let number: i32 = row.get(0);
    if number < MIN_SERVER_VERSION {
        return Err(Error::ServerTooOld { found: row.get(1) });
    }
    Ok(())
}

fn runner_lock_holder(client: &mut Client) -> Result<i32> {
    let row = client
        .query_opt(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&RUNNER_LOCK_KEY],
        )
        .map_err(Error::State)?;
    Ok(row.map(|row| row.get(0)).unwrap_or(0))
}

/// The columns every blocker query selects, in the order [`blockers`] reads them; `a` is
/// `pg_stat_activity`.
const BLOCKER_COLUMNS: &str = "a.pid, coalesce(a.state, ''), \
     coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8, coalesce(a.query, '')";

/// Runs a query selecting [`BLOCKER_COLUMNS`] and then the blocker's mode.
fn blockers(client: &mut Client, sql: &str, parameter: &str) -> Result<Vec<Blocker>> {
    let rows = client.query(sql, &[&parameter]).map_err(Error::State)?;
    Ok(rows
        .iter()
        .map(|row| Blocker {
            pid: row.get(0),
            state: row.get(1),
            transaction_age: Duration::from_secs_f64(row.get::<_, f64>(2).max(0.0)),
            query: row.get(3),
            mode: row.get(4),
        })
        .collect())
}

/// The sessions other than ours holding a granted lock on `table`.
fn lock_holders(client: &mut Client, table: &str) -> Result<Vec<Blocker>> {
    let sql = format!(
        "SELECT {BLOCKER_COLUMNS}, l.mode \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.granted AND l.locktype = 'relation' AND l.relation = to_regclass($1) \
           AND l.pid <> pg_backend_pid() \
         ORDER BY a.xact_start"
    );
    blockers(client, &sql, table)
}

/// The sessions of this database whose transaction began before `since`: a concurrent
/// index build or drop waits for each of them to end, whatever table they use.
fn older_transactions(client: &mut Client, since: &str) -> Result<Vec<Blocker>> {
    let sql = format!(
        "SELECT {BLOCKER_COLUMNS}, 'a snapshot older than the index build' \
         FROM pg_stat_activity a \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
           AND a.xact_start < $1::text::timestamptz \
         ORDER BY a.xact_start"
    );
    blockers(client, &sql, since)
}

/// Spreads retries of concurrent runners and clients apart: a pause between half and all of
/// `delay`, drawn from the clock (no generator crate for one number).
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(fraction)
}

fn check_order(
    plan: &Plan,
    state: &MigrationState,
    phase: Phase,
    direction: Direction,
    checksum: &str,
) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::PhaseOrder {
            migration: plan.id.to_string(),
            action: format!("{} {}", direction.verb(), phase),
            reason,
        })
    };
    if let Some(recorded) = &state.plan_checksum {
        if recorded != checksum && (state.completed.is_some() || state.running.is_some()) {
            return Err(Error::PlanChanged {
                migration: plan.id.to_string(),
                recorded: recorded.clone(),
                compiled: checksum.to_owned(),
            });
        }
    }
    if let Some((running, running_direction)) = state.running {
        if (running, running_direction) == (phase, direction) {
            return Ok(());
        }
        // A forward run that stopped half-way may be undone by its own reversal.
        if direction == Direction::Reverse && running == phase && running_direction == Direction::Forward {
            return Ok(());
        }
        return refuse(format!(
            "{} {} did not finish (stopped after step {}); run it again to resume it{}",
            running_direction.verb(),
            running,
            state.step,
            if running_direction == Direction::Forward {
                format!(", or revert {running} to undo it")
            } else {
                String::new()
            }
        ));
    }
    match direction {
        Direction::Forward => {
            if state.completed == phase.previous() {
                return Ok(());
            }
            match (state.completed, phase.previous()) {
                (Some(done), _) if done >= phase => refuse(format!(
                    "{phase} already ran (the last completed phase is {done})"
                )),
                (done, Some(needed)) => refuse(format!(
                    "{needed} must complete first (the last completed phase is {})",
                    done.map_or("none", Phase::name)
                )),
                (_, None) => refuse("the migration has already started".to_owned()),
            }
        }
        Direction::Reverse => {
            if state.completed == Some(phase) {
                return Ok(());
            }
            match state.completed {
                None => refuse(format!("{phase} never ran (no phase has completed)")),
                Some(done) => refuse(format!(
                    "only the last completed phase can be reverted, and that is {done}"
                )),
            }
        }
    }
}

fn check_expectation(client: &mut Client, plan: &Plan, expectation: &Expectation) -> Result<()> {
    let drift = |expected: String, found: String| {
        Err(Error::Drift {
            migration: plan.id.to_string(),
            expected,
            found,
        })
    };
    let relation_kind = |client: &mut Client, table: &str| -> Result<Option<String>> {
        let row = client
            .query_opt(
                "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' \
                 WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' \
                 ELSE 'relation' END FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[&table],
            )
            .map_err(Error::State)?;
        Ok(row.map(|row| row.get(0)))
    };
    match expectation {
        Expectation::TableExists { table } => match relation_kind(client, table)?.as_deref() {
            Some("table") => Ok(()),
            Some(kind) => drift(format!("table {table}"), format!("a {kind}")),
            None => drift(format!("table {table}"), "no such table".to_owned()),
        },
        Expectation::TableAbsent { table } => match relation_kind(client, table)? {
            None => Ok(()),
            Some(kind) => drift(
                format!("no relation named {table}"),
                format!("a {kind} of that name"),
            ),
        },
        Expectation::ColumnExists { table, column, ty } => {
            if relation_kind(client, table)?.is_none() {
                return drift(format!("table {table}"), "no such table".to_owned());
            }
            let row = client
                .query_opt(
                    "SELECT format_type(a.atttypid, a.atttypmod), \
                            $3::text IS NULL OR a.atttypid = to_regtype($3) \
                     FROM pg_attribute a \
                     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 \
                       AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&table, &column, &ty],
                )
                .map_err(Error::State)?;
            let expected = match ty {
                Some(ty) => format!("column {table}.\"{column}\" of type {ty}"),
                None => format!("column {table}.\"{column}\""),
            };
            match row {
                None => drift(expected, "no such column".to_owned()),
                Some(row) if !row.get::<_, bool>(1) => {
                    drift(expected, format!("type {}", row.get::<_, String>(0)))
                }
                Some(_) => Ok(()),
            }
        }
        Expectation::ColumnAbsent { table, column } => {
            let row = client
                .query_opt(
                    "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 \
                       AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&table, &column],
                )
                .map_err(Error::State)?;
            match row {
                None => Ok(()),
                Some(row) => drift(
                    format!("no column \"{column}\" in {table}"),
                    format!("that column already there, of type {}", row.get::<_, String>(0)),
                ),
            }
        }
        Expectation::IndexAbsentOrSame {
            table,
            index,
            unique,
            definition,
        } => crate::index::check_absent_or_same(client, plan, table, index, *unique, definition),
        Expectation::ViewOfTableOrAbsent { view, table } => {
            crate::view::check_view_of_table_or_absent(client, plan, view, table)
        }
        Expectation::ColumnNullable { .. }
        | Expectation::ConstraintAbsent { .. }
        | Expectation::ForeignKeyTarget { .. } => crate::schema_checks::check(client, plan, expectation),
    }
}

fn run_check(client: &mut Client, context: &StepContext, check: &Check) -> Result<u64> {
    let count: i64 = client
        .query_one(&*check.count_sql, &[])
        .map_err(|error| context.failed(error))?
        .get(0);
    if count == 0 {
        return Ok(0);
    }
    let samples = client
        .query(&*check.sample_sql, &[])
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| {
            row.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".to_owned())
        })
        .collect();
    Err(Error::Precondition {
        migration: context.plan.id.to_string(),
        phase: context.phase,
        expectation: check.expectation.to_string(),
        count,
        samples,
    })
}
