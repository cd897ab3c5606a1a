//! The runner: executes the phases of a plan against a live database in order, one step at
//! a time, recording progress in the state schema. It owns phase order, resume, the
//! checksum and the state row; what a step does is its executor's business.

mod order;
mod purge;
mod version_schema;

use postgres::Client;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::executors;
use crate::expect;
use crate::report::PhaseReport;
use crate::session::{self, Options, Session, StepContext};
use crate::statement::ExecuteOne;
use crate::store::{self, Direction, MigrationState, StateSchema};
use crate::versions;
use zdm_plan::{Migration, Phase, Plan};

/// The key of the session-level advisory lock that keeps two runners apart ("zdm").
const RUNNER_LOCK_KEY: i64 = 0x007a_646d;

/// Executes migrations against one database. Holds a session-level advisory lock for its
/// whole life, so a second runner on the same database is refused.
pub struct Runner {
    session: Session,
    /// Where the state lives: [`Options::state_schema`].
    state: StateSchema,
    /// The connection's own search path, set again before each phase: a migration runs
    /// under the path it started with, a new one under this.
    search_path: String,
}

impl Runner {
    /// Connects to `url`, checks the server version, takes the runner lock and creates the
    /// state schema ([`Options::state_schema`]) and its tables if needed.
    pub fn connect(url: &str, options: Options) -> Result<Runner> {
        let mut runner = Runner::new(session::connect(url)?, options)?;
        let url = url.to_owned();
        runner
            .session
            .set_connector(Box::new(move || session::connect(&url)));
        Ok(runner)
    }

    /// How a runner made by [`Runner::new`] opens the extra connections of
    /// [`Options::backfill_workers`]; [`Runner::connect`] opens them at its URL.
    pub fn connect_workers_with(&mut self, connect: impl Fn() -> Result<Client> + Send + Sync + 'static) {
        self.session.set_connector(Box::new(connect));
    }

    /// Like [`Runner::connect`], over a client the caller opened.
    pub fn new(mut client: Client, options: Options) -> Result<Runner> {
        let state = StateSchema::new(&options.state_schema)?;
        session::check_server_version(&mut client)?;
        // Idempotent steps (`DROP … IF EXISTS`) would otherwise print NOTICEs; a session
        // that asked for more (debug messages) keeps its setting.
        client
            .execute_one(
                "DO $$ BEGIN IF current_setting('client_min_messages') = 'notice' THEN \
                 PERFORM set_config('client_min_messages', 'warning', false); END IF; END $$",
            )
            .map_err(Error::Session)?;
        // A policy that would hide rows from a backfill or a data check makes the statement
        // fail instead; expand refuses such tables before any change.
        client
            .execute_one("SET row_security = off")
            .map_err(Error::Session)?;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&RUNNER_LOCK_KEY])
            .map_err(Error::Session)?
            .get(0);
        if !locked {
            return Err(Error::Busy {
                holder: runner_lock_holder(&mut client)?,
            });
        }
        store::ensure_schema(&mut client, &state)?;
        let search_path: String = client
            .query_one("SELECT current_setting('search_path')", &[])
            .map_err(Error::State)?
            .get(0);
        Ok(Runner {
            session: Session::new(client, options),
            state,
            search_path,
        })
    }

    /// Calls `observer` with every [`Event`]: steps starting and finishing, lock waits with
    /// the sessions blocking them, backfill progress.
    pub fn observe(&mut self, observer: impl FnMut(&Event<'_>) + Send + 'static) {
        self.session.observe(Box::new(observer));
    }

    /// The connection, for callers that want to look at the database between phases.
    pub fn client(&mut self) -> &mut Client {
        self.session.client()
    }

    /// The settings in force.
    pub fn options(&self) -> &Options {
        self.session.options()
    }

    /// Where a migration stands.
    pub fn state(&mut self, migration: &dyn Migration) -> Result<MigrationState> {
        store::load(self.session.client(), &self.state, migration.id())
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
        let state = store::load(self.session.client(), &self.state, &plan.id)?;
        order::check_order(plan, &state, phase, direction, &checksum)?;
        let resumed = state.running == Some((phase, direction));
        let first_step = if resumed { state.step as usize } else { 0 };
        self.pin_names(plan, phase, direction, &state)?;
        let (session, state_schema) = (&mut self.session, &self.state);
        versions::before_phase(session, state_schema, plan, (phase, direction), resumed)?;
        if phase == Phase::Expand && direction == Direction::Forward && !resumed {
            let skip_user_triggers = session.options().skip_user_triggers;
            expect::check_tables_of_plan(session.client(), plan, skip_user_triggers)?;
        }
        if !resumed {
            store::begin(session.client(), state_schema, plan, phase, direction, &checksum)?;
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
        session.emit(Event::PhaseStarted {
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
                state: state_schema,
            };
            session.emit(Event::StepStarted {
                migration: &plan.id,
                phase,
                index,
                step,
            });
            match executors::run(session, &context) {
                Ok(step_report) => {
                    session.emit(Event::StepFinished {
                        migration: &plan.id,
                        report: &step_report,
                    });
                    report.steps.push(step_report);
                }
                Err(error) => {
                    // A refusal before anything changed leaves the migration where it was:
                    // there is nothing to resume or revert.
                    let changed_nothing = !resumed
                        && error.is_refusal()
                        && steps[..index]
                            .iter()
                            .all(|step| executors::changes_nothing(&step.action));
                    if changed_nothing {
                        store::restore(session.client(), state_schema, &plan.id, &state)?;
                        return Err(error);
                    }
                    // The state row keeps the phase as running, so the next call resumes or
                    // reverts it; the message is kept for `status`.
                    let _ = store::record_error(session.client(), state_schema, &plan.id, &error.to_string());
                    return Err(error);
                }
            }
        }
        versions::after_phase(session, state_schema, plan, (phase, direction))?;
        store::finish(session.client(), state_schema, &plan.id, phase, direction)?;
        Ok(report)
    }

    /// Sets the search path a phase runs under and checks the names it acts on: a fresh
    /// expand records them under the connection's own path; every other run works under the
    /// record.
    fn pin_names(
        &mut self,
        plan: &Plan,
        phase: Phase,
        direction: Direction,
        state: &MigrationState,
    ) -> Result<()> {
        let client = self.session.client();
        client
            .execute(
                "SELECT set_config('search_path', $1, false)",
                &[&self.search_path],
            )
            .map_err(Error::State)?;
        // Expand with nothing done yet records the names afresh, under the caller's path;
        // every other run works under the record, if the migration has one.
        let nothing_done = state.completed.is_none() && (state.running.is_none() || state.step == 0);
        if phase == Phase::Expand && direction == Direction::Forward && nothing_done {
            store::start_pins(client, &self.state, plan)?;
        } else if let Some(pins) = store::load_pins(client, &self.state, &plan.id)? {
            store::apply_pins(client, plan, &pins)?;
        }
        Ok(())
    }
}

impl Drop for Runner {
    /// Releases the runner lock while the session is still open: the server frees a closed
    /// session's locks only once its backend has exited, a moment after the client has
    /// gone, and a runner connected in that moment would be refused as busy.
    fn drop(&mut self) {
        let client = self.session.client();
        if !client.is_closed() {
            let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&RUNNER_LOCK_KEY]);
        }
    }
}

fn runner_lock_holder(client: &mut Client) -> Result<i32> {
    let row = client
        .query_opt(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&RUNNER_LOCK_KEY],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| row.get(0)).unwrap_or(0))
}
