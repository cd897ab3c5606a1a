//! The test kit for an application's own migrations (feature `testing`): one call in the
//! application's test suite rehearses every migration's whole life on a fresh database.
//!
//! ```no_run
//! # use zdm_runtime::zero_downtime;
//! # #[zero_downtime(id = "m1", add_column(table = "users", column = "nick", ty = "text"))]
//! # pub struct AddNick;
//! # zdm_runtime::migrations!(pub static MIGRATIONS = [AddNick]);
//! #[test]
//! fn migrations_rehearse() {
//!     zdm_runtime::testing::Rehearsal::new("my_app_migrations")
//!         .schema("CREATE TABLE users (id bigint PRIMARY KEY); INSERT INTO users VALUES (1), (2);")
//!         .lock_file("zdm.lock")
//!         .run(MIGRATIONS)
//!         .unwrap_or_else(|failure| panic!("{failure}"));
//! }
//! ```
//!
//! [`Rehearsal::run`] creates the database `zdm_<name>` on the server `DATABASE_URL` names
//! (see [`FreshDatabase`]), sets it up with the schema SQL and the setup closure, then
//! takes each migration, in the order listed, through every phase: it runs the phase,
//! reverts it, checks that the catalog of the database's schemas and every row of their
//! tables are exactly what they were before the phase, and runs the phase again. A phase
//! whose plan has no reversal steps is not compared (split_table's backfill leaves its
//! copies, which its sync's reversal removes). Then it reverts every phase, contract to
//! expand, checks the database against what it was before expand, and runs every phase
//! again, so the next migration starts where production would. With the writes of the
//! application's versions given ([`Rehearsal::old_version`], [`Rehearsal::new_version`]),
//! a pipeline pass follows, in which they write between the steps. The first failure
//! stops the rehearsal and is returned as a [`RehearsalError`] naming the migration, the
//! phase and, for a failed statement, the step and the server's error.

mod database;
mod lock;
mod snapshot;
mod versions;

use std::path::PathBuf;

use postgres::Client;

use crate::error::describe;
use crate::{Direction, Options, Runner};
use zdm_plan::{Migration, Phase};

pub use database::FreshDatabase;
use lock::LockFile;
/// The PostgreSQL driver whose `Client` the setup and version closures get, so that an
/// application names its types without a dependency of its own.
pub use postgres;
use snapshot::Snapshot;

/// Why a rehearsal stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RehearsalError {
    /// No server answered, or the runner could not start on the fresh database.
    #[error(transparent)]
    Connect(crate::Error),
    /// The fresh database could not be created (the role needs `CREATEDB`).
    #[error("cannot create the database {name}: {reason}")]
    Database {
        /// The database's name.
        name: String,
        /// The server's error.
        reason: String,
    },
    /// The schema SQL or the setup closure failed.
    #[error("the rehearsal's {what} failed: {reason}")]
    Setup {
        /// `schema SQL` or `setup closure`.
        what: &'static str,
        /// The server's error, with its SQLSTATE.
        reason: String,
    },
    /// A phase or a reversal failed.
    #[error("rehearsal of {migration}: {verb} {phase}: {source}", verb = .direction.verb())]
    Phase {
        /// The migration's id.
        migration: String,
        /// The phase.
        phase: Phase,
        /// Whether the phase ran or was being reverted.
        direction: Direction,
        /// The step that failed, when a step did (a refusal of the whole phase has none).
        step: Option<String>,
        /// The runner's error, with the server's where there was one.
        #[source]
        source: Box<crate::Error>,
    },
    /// A reversal left the database different from what it was before the phase, or the
    /// reversal of every phase different from what it was before expand.
    #[error(
        "rehearsal of {migration}: {} did not restore the database as it was before {}:{}",
        .phase.map_or("reverting every phase (contract to expand)".to_owned(), |phase| format!("reverting {phase}")),
        .phase.unwrap_or(Phase::Expand),
        .differences.iter().map(|line| format!("\n  - {line}")).collect::<String>()
    )]
    NotRestored {
        /// The migration's id.
        migration: String,
        /// The phase whose reversal fell short; `None` for the reversal of every phase.
        phase: Option<Phase>,
        /// What differs: catalog facts and rows present only before the phase or only
        /// after the reversal, a few of each.
        differences: Vec<String>,
    },
    /// The database could not be read between phases.
    #[error("the rehearsal could not read the database: {0}")]
    Read(String),
    /// A declaration changed after its plan checksum was recorded in the lock file.
    #[error(
        "{migration}: the declaration changed after {} recorded its plan checksum ({recorded} recorded, \
         {compiled} compiled); a migration that has started anywhere must keep its declaration: restore it \
         and declare the change as a new migration with a new id (a migration that never left your branch \
         may change: delete its line)",
        .path.display()
    )]
    ChangedDeclaration {
        /// The migration's id.
        migration: String,
        /// The lock file.
        path: PathBuf,
        /// The checksum in the lock file.
        recorded: String,
        /// The compiled declaration's checksum.
        compiled: String,
    },
    /// A write of the old or the new application version failed during the pipeline pass.
    #[error("rehearsal: the {version} version's write failed {moment}: {reason}")]
    Write {
        /// `old` or `new`.
        version: &'static str,
        /// When: before which step of which phase of which migration, after which phase,
        /// or at the roll-out.
        moment: String,
        /// The server's error, with its SQLSTATE.
        reason: String,
    },
    /// The lock file cannot be read or written, or a line of it is not an entry.
    #[error("cannot use the lock file {}: {reason}", .path.display())]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

type Setup<'a> = Box<dyn FnOnce(&mut Client) -> Result<(), postgres::Error> + 'a>;

/// A rehearsal of an application's migrations; see the [module](self) documentation.
pub struct Rehearsal<'a> {
    name: String,
    schema: Option<String>,
    setup: Option<Setup<'a>>,
    lock_file: Option<PathBuf>,
    options: Options,
    old_version: Option<versions::Write>,
    new_version: Option<versions::Write>,
}

impl<'a> Rehearsal<'a> {
    /// A rehearsal on the database `zdm_<name>` (see [`FreshDatabase::create`]); give each
    /// test its own name, so that tests run in parallel.
    pub fn new(name: &str) -> Rehearsal<'a> {
        Rehearsal {
            name: name.to_owned(),
            schema: None,
            setup: None,
            lock_file: None,
            options: Options::default(),
            old_version: None,
            new_version: None,
        }
    }

    /// SQL run first on the fresh database: the application's schema, and rows, which the
    /// check of each reversal compares (a reversal that loses data shows only in rows).
    pub fn schema(mut self, sql: &str) -> Rehearsal<'a> {
        self.schema = Some(sql.to_owned());
        self
    }

    /// A closure run on the fresh database after the schema SQL, to set it up by code.
    pub fn setup(
        mut self,
        setup: impl FnOnce(&mut Client) -> Result<(), postgres::Error> + 'a,
    ) -> Rehearsal<'a> {
        self.setup = Some(Box::new(setup));
        self
    }

    /// Checks every listed migration's plan checksum against the file at `path` (relative
    /// paths are taken from the working directory, the package's root under `cargo
    /// test`) before anything runs, and after a successful rehearsal records the
    /// migrations it has no line for. The file is created if missing.
    pub fn lock_file(mut self, path: impl Into<PathBuf>) -> Rehearsal<'a> {
        self.lock_file = Some(path.into());
        self
    }

    /// What the version deployed before these migrations writes, for the pipeline pass:
    /// with a version given, once every migration has been rehearsed phase by phase it is
    /// reverted, latest first, and run as the deploy pipeline runs it. The old version
    /// writes before every step of expand, sync and backfill and after each of them; the
    /// old and the new version write once each at the roll-out; the new version writes
    /// before every step of contract and after it. Each version writes on a connection of
    /// its own, and `n` is unique to the call (for new keys). A write that fails stops the
    /// rehearsal with [`RehearsalError::Write`].
    pub fn old_version(
        mut self,
        write: impl Fn(&mut Client, i64) -> Result<(), postgres::Error> + Send + Sync + 'static,
    ) -> Rehearsal<'a> {
        self.old_version = Some(Box::new(write));
        self
    }

    /// What the version these migrations are for writes; see [`Rehearsal::old_version`].
    pub fn new_version(
        mut self,
        write: impl Fn(&mut Client, i64) -> Result<(), postgres::Error> + Send + Sync + 'static,
    ) -> Rehearsal<'a> {
        self.new_version = Some(Box::new(write));
        self
    }

    /// The runner's options (default: [`Options::default`]).
    pub fn options(mut self, options: Options) -> Rehearsal<'a> {
        self.options = options;
        self
    }

    /// Rehearses `migrations` in order. On success the database is dropped; on failure it
    /// is kept for inspection.
    pub fn run(self, migrations: &[&dyn Migration]) -> Result<(), RehearsalError> {
        let mut lock = match &self.lock_file {
            Some(path) => {
                let lock = LockFile::read(path)?;
                lock.check(migrations)?;
                Some(lock)
            }
            None => None,
        };
        let mut database = FreshDatabase::create(&self.name)?;
        let versions = match (self.old_version, self.new_version) {
            (None, None) => None,
            (old, new) => Some((
                old.unwrap_or_else(|| Box::new(|_, _| Ok(()))),
                new.unwrap_or_else(|| Box::new(|_, _| Ok(()))),
            )),
        };
        let outcome =
            rehearse(&database, self.schema, self.setup, self.options, migrations).and_then(|mut runner| {
                match versions {
                    Some((old, new)) => versions::pipeline(&database, &mut runner, migrations, old, new),
                    None => Ok(()),
                }
            });
        if let Err(error) = outcome {
            database.keep();
            return Err(error);
        }
        drop(database);
        match &mut lock {
            Some(lock) => lock.record(migrations),
            None => Ok(()),
        }
    }
}

fn rehearse(
    database: &FreshDatabase,
    schema: Option<String>,
    setup: Option<Setup<'_>>,
    options: Options,
    migrations: &[&dyn Migration],
) -> Result<Runner, RehearsalError> {
    let mut client = database.connect()?;
    let failed = |what| {
        move |error: postgres::Error| RehearsalError::Setup {
            what,
            reason: describe(&error),
        }
    };
    if let Some(sql) = schema {
        client.batch_execute(&sql).map_err(failed("schema SQL"))?;
    }
    if let Some(setup) = setup {
        setup(&mut client).map_err(failed("setup closure"))?;
    }
    // Every name the snapshot prints is then schema-qualified, whatever the setup did.
    client
        .batch_execute("SET search_path = ''")
        .map_err(|error| RehearsalError::Read(describe(&error)))?;
    // The reversal pass runs with no application version writing.
    let options = Options {
        new_version_stopped: true,
        ..options
    };
    let mut runner = Runner::connect(database.url(), options).map_err(RehearsalError::Connect)?;
    for &migration in migrations {
        rehearse_one(&mut runner, &mut client, migration)?;
    }
    Ok(runner)
}

/// Each phase run, reverted, compared and run again; then every phase reverted, latest
/// first, compared with the database before expand, and run again.
fn rehearse_one(
    runner: &mut Runner,
    client: &mut Client,
    migration: &dyn Migration,
) -> Result<(), RehearsalError> {
    let not_restored = |phase: Option<Phase>, differences: Vec<String>| RehearsalError::NotRestored {
        migration: migration.id().to_owned(),
        phase,
        differences,
    };
    let start = snapshot(client)?;
    for phase in Phase::ALL {
        let before = snapshot(client)?;
        perform(runner, migration, phase, Direction::Forward)?;
        perform(runner, migration, phase, Direction::Reverse)?;
        // A reversal of no steps undoes nothing by design (split_table's backfill leaves
        // its copies, which the sync keeps right and whose own reversal removes): only
        // the whole reversal below can check it.
        if !migration.plan().phase(phase).reverse.is_empty() {
            let differences = snapshot(client)?.differences(&before);
            if !differences.is_empty() {
                return Err(not_restored(Some(phase), differences));
            }
        }
        perform(runner, migration, phase, Direction::Forward)?;
    }
    for phase in Phase::ALL.into_iter().rev() {
        perform(runner, migration, phase, Direction::Reverse)?;
    }
    let differences = snapshot(client)?.differences(&start);
    if !differences.is_empty() {
        return Err(not_restored(None, differences));
    }
    for phase in Phase::ALL {
        perform(runner, migration, phase, Direction::Forward)?;
    }
    Ok(())
}

fn snapshot(client: &mut Client) -> Result<Snapshot, RehearsalError> {
    Snapshot::read(client).map_err(|error| RehearsalError::Read(describe(&error)))
}

fn perform(
    runner: &mut Runner,
    migration: &dyn Migration,
    phase: Phase,
    direction: Direction,
) -> Result<(), RehearsalError> {
    let outcome = match direction {
        Direction::Forward => runner.run(migration, phase),
        Direction::Reverse => runner.revert(migration, phase),
    };
    outcome.map(drop).map_err(|source| RehearsalError::Phase {
        migration: migration.id().to_owned(),
        phase,
        direction,
        step: match &source {
            crate::Error::Step { step, .. } | crate::Error::LockTimeout { step, .. } => Some(step.clone()),
            _ => None,
        },
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_whole_reversal_names_the_span_it_reverted() {
        let failure = |phase| RehearsalError::NotRestored {
            migration: "m1".to_owned(),
            phase,
            differences: vec!["row of public.t only before: {\"id\": 1}".to_owned()],
        };
        assert_eq!(
            failure(None).to_string(),
            "rehearsal of m1: reverting every phase (contract to expand) did not restore the database as it \
             was before expand:\n  - row of public.t only before: {\"id\": 1}"
        );
        assert_eq!(
            failure(Some(Phase::Sync)).to_string(),
            "rehearsal of m1: reverting sync did not restore the database as it was before sync:\n  \
             - row of public.t only before: {\"id\": 1}"
        );
    }
}
