//! The pipeline pass: the migrations run as the README's deploy pipeline runs them
//! (`up --to backfill`, roll out, `up`), while the application's old and new versions write
//! between the steps, each on a connection of its own.

use std::sync::{Arc, Mutex};

use postgres::Client;

use super::{perform, FreshDatabase, RehearsalError};
use crate::error::describe;
use crate::{Direction, Event, Runner};
use zdm_plan::{Migration, Phase};

/// What one application version writes; `n` is a number unique to the call, for keys.
pub(crate) type Write = Box<dyn Fn(&mut Client, i64) -> Result<(), postgres::Error> + Send + Sync>;

/// One application version with its connection.
struct Version {
    name: &'static str,
    write: Write,
    client: Client,
}

/// The versions, which of them run now, and the first write that failed.
struct Writers {
    versions: Vec<Version>,
    running: Vec<usize>,
    calls: i64,
    failure: Option<RehearsalError>,
}

impl Writers {
    /// Each running version writes once; the first failure is kept and ends the writing.
    fn write(&mut self, moment: &dyn Fn() -> String) {
        for index in self.running.clone() {
            if self.failure.is_some() {
                return;
            }
            self.calls += 1;
            let version = &mut self.versions[index];
            if let Err(error) = (version.write)(&mut version.client, self.calls) {
                self.failure = Some(RehearsalError::Write {
                    version: version.name,
                    moment: moment(),
                    reason: describe(&error),
                });
            }
        }
    }
}

const OLD: usize = 0;
const NEW: usize = 1;

/// Reverts every migration, latest listed first, then runs the pipeline: expand, sync and
/// backfill of each while the old version writes before every step and after every
/// phase; the roll-out, where each version writes once; contract of each while the new
/// version writes. Ends with every migration contracted.
pub(crate) fn pipeline(
    database: &FreshDatabase,
    runner: &mut Runner,
    migrations: &[&dyn Migration],
    old: Write,
    new: Write,
) -> Result<(), RehearsalError> {
    for &migration in migrations.iter().rev() {
        for phase in Phase::ALL.into_iter().rev() {
            perform(runner, migration, phase, Direction::Reverse)?;
        }
    }
    let writers = Arc::new(Mutex::new(Writers {
        versions: vec![
            Version {
                name: "old",
                write: old,
                client: database.connect()?,
            },
            Version {
                name: "new",
                write: new,
                client: database.connect()?,
            },
        ],
        running: vec![OLD],
        calls: 0,
        failure: None,
    }));
    let observed = Arc::clone(&writers);
    runner.observe(move |event| {
        if let Event::StepStarted {
            migration,
            phase,
            step,
            ..
        } = event
        {
            let moment = || format!("before step \"{}\" of {phase} of {migration}", step.description);
            observed.lock().expect("the writers' lock").write(&moment);
        }
    });
    let outcome = stages(runner, migrations, &writers);
    runner.observe(|_| {});
    let failure = writers.lock().expect("the writers' lock").failure.take();
    match failure {
        Some(failure) => Err(failure),
        None => outcome,
    }
}

fn stages(
    runner: &mut Runner,
    migrations: &[&dyn Migration],
    writers: &Mutex<Writers>,
) -> Result<(), RehearsalError> {
    let mut phase_then_write = |migration: &dyn Migration, phase: Phase| -> Result<bool, RehearsalError> {
        perform(runner, migration, phase, Direction::Forward)?;
        let mut writers = writers.lock().expect("the writers' lock");
        writers.write(&|| format!("after {phase} of {}", migration.id()));
        Ok(writers.failure.is_none())
    };
    for &migration in migrations {
        for phase in [Phase::Expand, Phase::Sync, Phase::Backfill] {
            if !phase_then_write(migration, phase)? {
                return Ok(());
            }
        }
    }
    {
        let mut writers = writers.lock().expect("the writers' lock");
        writers.running = vec![OLD, NEW];
        writers.write(&|| "after the new version rolled out, beside the old".to_owned());
        writers.running = vec![NEW];
        if writers.failure.is_some() {
            return Ok(());
        }
    }
    for &migration in migrations {
        if !phase_then_write(migration, Phase::Contract)? {
            return Ok(());
        }
    }
    Ok(())
}
