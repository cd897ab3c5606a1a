//! The operator's command line, wired into an application's own binary in three lines:
//!
//! ```no_run
//! # use zdm_runtime::zero_downtime;
//! # #[zero_downtime(id = "m1", add_column(table = "t", column = "c", ty = "text"))]
//! # pub struct AddC;
//! zdm_runtime::migrations!(pub static MIGRATIONS = [AddC]);
//!
//! fn main() -> std::process::ExitCode {
//!     zdm_runtime::cli::main(MIGRATIONS)
//! }
//! ```
//!
//! Subcommands: `status [--json]`, `plan [ID]`, `search-path`, `ready`,
//! `expand|sync|backfill|contract ID`,
//! `up [ID] [--to PHASE]`, `revert ID [--to PHASE|pending] [--allow-data-loss]
//! [--new-version-stopped]`. Exit codes are the constants in [`exit`].

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use postgres::Client;

use crate::error::Error;
use crate::runner::Runner;
use crate::session::{self, BatchSize, Options};
use crate::store::{self, Direction, MigrationState, StateSchema};
use zdm_plan::{Migration, Phase};

mod args;
mod progress;

use args::{parse_duration, parse_phase, parse_revert_to, parse_schema, RevertTo};

/// The process exit codes of the CLI.
pub mod exit {
    /// Everything asked for was done.
    pub const DONE: u8 = 0;
    /// A step failed (a statement error).
    pub const FAILED: u8 = 1;
    /// The command line was wrong: unknown subcommand, flag or migration id.
    pub const USAGE: u8 = 2;
    /// The step was refused before any change: phase order, another runner, drift, a
    /// changed declaration, something the operation cannot carry over, or a reversal that
    /// discards data without `--allow-data-loss`.
    pub const REFUSED: u8 = 3;
    /// A lock could not be taken within the lock budget.
    pub const LOCK_TIMEOUT: u8 = 4;
    /// A precondition on the data failed (NULLs, orphans, duplicates, …).
    pub const PRECONDITION: u8 = 5;
    /// No server answered, or it is older than PostgreSQL 12.
    pub const CONNECT: u8 = 6;
    /// `ready`: an application version built with these migrations may not start yet.
    pub const NOT_READY: u8 = 7;
}

#[derive(Debug, Parser)]
#[command(about = "Zero-downtime PostgreSQL schema changes: expand, sync, backfill, contract.")]
struct Cli {
    /// The database to migrate.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        global = true
    )]
    database_url: String,
    /// How long one statement may wait for a lock before the step is retried (e.g. 1s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "1s", global = true)]
    lock_timeout: Duration,
    /// How long one statement of a step may run.
    #[arg(long, value_parser = parse_duration, default_value = "15m", global = true)]
    statement_timeout: Duration,
    /// How long one statement of a scan that blocks no read or write (VALIDATE CONSTRAINT,
    /// the checks of the data) may run; no limit unless given.
    #[arg(long, value_parser = parse_duration, global = true)]
    scan_timeout: Option<Duration>,
    /// The total time a step may spend retrying lock timeouts.
    #[arg(long, value_parser = parse_duration, default_value = "60s", global = true)]
    lock_budget: Duration,
    /// A fixed number of rows per backfill batch, instead of a target batch duration.
    #[arg(long, global = true, conflicts_with = "batch_time")]
    batch_size: Option<u32>,
    /// Adapt backfill batches to take about this long.
    #[arg(long, value_parser = parse_duration, global = true)]
    batch_time: Option<Duration>,
    /// Run backfill batches with session_replication_role = replica, so the tables' own
    /// triggers do not fire for the rows they write (needs a role that may set it).
    #[arg(long, global = true)]
    skip_user_triggers: bool,
    /// Print what would run and change nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// The schema zdm keeps its state in; made by the first run unless it exists.
    #[arg(long, env = "ZDM_STATE_SCHEMA", default_value = "zdm", value_parser = parse_schema, global = true)]
    state_schema: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every migration, its phase and state, backfill progress.
    Status {
        /// One JSON object on stdout, for pipelines.
        #[arg(long)]
        json: bool,
    },
    /// The version schemas the newest application version puts before its own search_path,
    /// newest first; needs no database.
    SearchPath,
    /// Whether an application version built with these migrations may start: every
    /// migration's expand completed and its version schema there; exits 7 otherwise.
    Ready,
    /// The SQL of every phase and reversal, with locks; needs no database.
    Plan {
        /// Only this migration.
        id: Option<String>,
    },
    /// Run the expand phase.
    Expand { id: String },
    /// Run the sync phase.
    Sync { id: String },
    /// Run the backfill phase.
    Backfill { id: String },
    /// Run the contract phase.
    Contract { id: String },
    /// Run every phase not yet done, up to --to, for one migration or all in order.
    Up {
        id: Option<String>,
        #[arg(long, value_parser = parse_phase, default_value = "contract")]
        to: Phase,
    },
    /// Drop for good what a completed contract set aside (a dropped table); contract can no
    /// longer be reverted afterwards.
    Purge { id: String },
    /// After contract, drop the migration's version schema once no application version has
    /// it on its search_path (a later migration's contract of the same tables drops it too).
    DropVersionSchema { id: String },
    /// Undo the latest completed (or failed) phase, or every phase after --to.
    Revert {
        id: String,
        /// The phase to go back to (`pending` for none); default: one phase back.
        #[arg(long, value_parser = parse_revert_to)]
        to: Option<RevertTo>,
        /// Allow reversals that throw data away (such as dropping a new column).
        #[arg(long)]
        allow_data_loss: bool,
        /// Say that no application version uses the migration's version schema any more,
        /// which reverting its sync or expand needs.
        #[arg(long)]
        new_version_stopped: bool,
    },
}

/// Runs the CLI over `migrations` with the process's arguments.
pub fn main(migrations: &[&dyn Migration]) -> ExitCode {
    main_with_args(std::env::args_os(), migrations)
}

/// Runs the CLI over `migrations` with the given arguments (the first is the program name).
pub fn main_with_args<I, T>(args: I, migrations: &[&dyn Migration]) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
    match execute(&cli, migrations, &mut Output::default()) {
        Ok(()) => ExitCode::from(exit::DONE),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The command's output on stdout. `println!` panics once the reader has gone
/// (`status | head -1`); here the rest of the output is dropped instead, while the work
/// goes on, so the exit code still says how the command ended.
#[derive(Default)]
struct Output {
    closed: bool,
}

impl Output {
    fn write(&mut self, text: std::fmt::Arguments<'_>) {
        if self.closed {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
            self.closed = true;
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cannot write to stdout ({error}); the rest of the output is dropped"
                );
            }
        }
    }
}

macro_rules! out {
    ($out:expr, $($text:tt)*) => {
        $out.write(format_args!($($text)*))
    };
}

macro_rules! outln {
    ($out:expr, $($text:tt)*) => {
        $out.write(format_args!("{}\n", format_args!($($text)*)))
    };
}

// Declared after the output macros above, which they use.
mod after_contract;
mod ready;
mod status;
use after_contract::{drop_version_schema, purge};
use status::status;

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = match &error {
            Error::Connect { .. }
            | Error::TlsSettings { .. }
            | Error::ServerTooOld { .. }
            | Error::ServerTooNew { .. } => exit::CONNECT,
            Error::Busy { .. }
            | Error::PhaseOrder { .. }
            | Error::PlanChanged { .. }
            | Error::Drift { .. }
            | Error::Refused { .. }
            | Error::StateSchema { .. } => exit::REFUSED,
            Error::Precondition { .. } => exit::PRECONDITION,
            Error::NotReady { .. } => exit::NOT_READY,
            Error::LockTimeout { .. } => exit::LOCK_TIMEOUT,
            Error::Step { .. } | Error::State(_) | Error::Catalog(_) | Error::Session(_) => exit::FAILED,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

fn usage(message: String) -> Failure {
    Failure {
        code: exit::USAGE,
        message,
    }
}

fn find<'a>(migrations: &[&'a dyn Migration], id: &str) -> Result<&'a dyn Migration, Failure> {
    migrations
        .iter()
        .copied()
        .find(|migration| migration.id() == id)
        .ok_or_else(|| {
            let known = migrations
                .iter()
                .map(|migration| migration.id())
                .collect::<Vec<_>>()
                .join(", ");
            usage(format!("no migration has the id `{id}`; known ids: {known}"))
        })
}

fn execute(cli: &Cli, migrations: &[&dyn Migration], out: &mut Output) -> Result<(), Failure> {
    match &cli.command {
        Command::Plan { id } => {
            let selected = match id {
                Some(id) => vec![find(migrations, id)?],
                None => migrations.to_vec(),
            };
            for migration in selected {
                outln!(out, "{}", migration.plan());
            }
            Ok(())
        }
        Command::SearchPath => {
            outln!(out, "{}", crate::version_search_path(migrations));
            Ok(())
        }
        Command::Status { json } => status(cli, migrations, *json, out),
        Command::Ready => ready::ready(cli, migrations, out),
        Command::Expand { id } => step(cli, out, migrations, id, Phase::Expand),
        Command::Sync { id } => step(cli, out, migrations, id, Phase::Sync),
        Command::Backfill { id } => step(cli, out, migrations, id, Phase::Backfill),
        Command::Contract { id } => step(cli, out, migrations, id, Phase::Contract),
        Command::Purge { id } => purge(cli, out, find(migrations, id)?),
        Command::DropVersionSchema { id } => drop_version_schema(cli, out, find(migrations, id)?),
        Command::Up { id, to } => {
            let selected = match id {
                Some(id) => vec![find(migrations, id)?],
                None => migrations.to_vec(),
            };
            let mut client = session::connect(&cli.database_url)?;
            let mut work = Vec::new();
            for migration in selected {
                let state = read_state(cli, &mut client, migration.id())?;
                work.extend(
                    forward_phases(&state, *to)
                        .into_iter()
                        .map(|phase| (migration, phase, Direction::Forward)),
                );
            }
            perform(cli, out, client, work, Allowed::default())
        }
        Command::Revert {
            id,
            to,
            allow_data_loss,
            new_version_stopped,
        } => {
            let migration = find(migrations, id)?;
            let mut client = session::connect(&cli.database_url)?;
            let state = read_state(cli, &mut client, migration.id())?;
            let phases = reverse_phases(&state, *to);
            if phases.is_empty() {
                outln!(out, "{id}: nothing to revert");
                return Ok(());
            }
            if !allow_data_loss {
                for phase in &phases {
                    if let Some(discards) = &migration.plan().phase(*phase).reverse_discards {
                        return Err(Failure {
                            code: exit::REFUSED,
                            message: format!(
                                "{id}: reverting {phase} discards {discards}; pass --allow-data-loss to revert anyway"
                            ),
                        });
                    }
                }
            }
            let work = phases
                .into_iter()
                .map(|phase| (migration, phase, Direction::Reverse))
                .collect();
            let allowed = Allowed {
                data_loss: *allow_data_loss,
                new_version_stopped: *new_version_stopped,
            };
            perform(cli, out, client, work, allowed)
        }
    }
}

fn step(
    cli: &Cli,
    out: &mut Output,
    migrations: &[&dyn Migration],
    id: &str,
    phase: Phase,
) -> Result<(), Failure> {
    let migration = find(migrations, id)?;
    let client = session::connect(&cli.database_url)?;
    perform(
        cli,
        out,
        client,
        vec![(migration, phase, Direction::Forward)],
        Allowed::default(),
    )
}

/// The state of a migration, read without creating the state schema (a dry run or a
/// status query changes nothing).
fn read_state(cli: &Cli, client: &mut Client, id: &str) -> Result<MigrationState, Failure> {
    let state = StateSchema::new(&cli.state_schema)?;
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("migrations")],
        )
        .map_err(Error::State)?
        .get(0);
    if !exists {
        return Ok(MigrationState::default());
    }
    Ok(store::load(client, &state, id)?)
}

/// The phases `up --to` runs from `state`: a failed or interrupted phase first, then the
/// ones after the last completed, up to `last`.
fn forward_phases(state: &MigrationState, last: Phase) -> Vec<Phase> {
    let first = match (state.running, state.completed) {
        (Some((phase, Direction::Forward)), _) => Some(phase),
        (Some((_, Direction::Reverse)), _) => return Vec::new(),
        (None, None) => Some(Phase::Expand),
        (None, Some(done)) => done.next(),
    };
    Phase::ALL
        .into_iter()
        .filter(|phase| first.is_some_and(|first| *phase >= first) && *phase <= last)
        .collect()
}

/// The reversals `revert --to` runs from `state`, latest first.
fn reverse_phases(state: &MigrationState, to: Option<RevertTo>) -> Vec<Phase> {
    let latest = match state.running {
        Some((phase, _)) => Some(phase),
        None => state.completed,
    };
    let Some(latest) = latest else { return Vec::new() };
    let stop = match to {
        // One phase back: only the latest.
        None => latest.previous(),
        Some(RevertTo(target)) => target,
    };
    Phase::ALL
        .into_iter()
        .rev()
        .filter(|phase| *phase <= latest && stop.is_none_or(|stop| *phase > stop))
        .collect()
}

/// What a `revert` command line lets the runner do that it otherwise refuses.
#[derive(Clone, Copy, Default)]
struct Allowed {
    /// `--allow-data-loss`.
    data_loss: bool,
    /// `--new-version-stopped`.
    new_version_stopped: bool,
}

fn perform(
    cli: &Cli,
    out: &mut Output,
    client: Client,
    work: Vec<(&dyn Migration, Phase, Direction)>,
    allowed: Allowed,
) -> Result<(), Failure> {
    if work.is_empty() {
        outln!(out, "nothing to do: every phase asked for has completed");
        return Ok(());
    }
    if cli.dry_run {
        for (migration, phase, direction) in &work {
            let plan = migration.plan().phase(*phase);
            let steps = match direction {
                Direction::Forward => &plan.forward,
                Direction::Reverse => &plan.reverse,
            };
            outln!(
                out,
                "would {} {phase} of {}: {}",
                direction.verb(),
                migration.id(),
                plan.summary
            );
            for (index, step) in steps.iter().enumerate() {
                out!(out, "    {}. {step}", index + 1);
            }
        }
        // Close the session explicitly: it only read.
        let _ = client.close();
        outln!(out, "dry run: nothing was changed");
        return Ok(());
    }
    let options = Options {
        allow_data_loss: allowed.data_loss,
        new_version_stopped: allowed.new_version_stopped,
        ..runner_options(cli)
    };
    let mut runner = Runner::new(client, options)?;
    runner.observe(progress::progress_observer(cli.database_url.clone()));
    for (migration, phase, direction) in work {
        let report = match direction {
            Direction::Forward => runner.run(migration, phase)?,
            Direction::Reverse => runner.revert(migration, phase)?,
        };
        outln!(out, "{}: {report}", migration.id());
    }
    Ok(())
}

/// The runner's settings, as the command line gives them.
fn runner_options(cli: &Cli) -> Options {
    Options {
        lock_timeout: cli.lock_timeout,
        statement_timeout: cli.statement_timeout,
        scan_timeout: cli.scan_timeout,
        lock_budget: cli.lock_budget,
        batch: match (cli.batch_size, cli.batch_time) {
            (Some(size), _) => BatchSize::Fixed(size),
            (None, Some(time)) => BatchSize::Target(time),
            (None, None) => Options::default().batch,
        },
        skip_user_triggers: cli.skip_user_triggers,
        state_schema: cli.state_schema.clone(),
        ..Options::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_resumes_a_failed_phase_then_goes_on() {
        let state = MigrationState {
            completed: Some(Phase::Expand),
            running: Some((Phase::Sync, Direction::Forward)),
            ..MigrationState::default()
        };
        assert_eq!(
            forward_phases(&state, Phase::Contract),
            [Phase::Sync, Phase::Backfill, Phase::Contract]
        );
        assert_eq!(
            forward_phases(&MigrationState::default(), Phase::Sync),
            [Phase::Expand, Phase::Sync]
        );
    }

    #[test]
    fn revert_goes_back_one_phase_or_to_the_target() {
        let state = MigrationState {
            completed: Some(Phase::Backfill),
            ..MigrationState::default()
        };
        assert_eq!(reverse_phases(&state, None), [Phase::Backfill]);
        assert_eq!(
            reverse_phases(&state, Some(RevertTo(Some(Phase::Expand)))),
            [Phase::Backfill, Phase::Sync]
        );
        assert_eq!(
            reverse_phases(&state, Some(RevertTo(None))),
            [Phase::Backfill, Phase::Sync, Phase::Expand]
        );
    }
}
