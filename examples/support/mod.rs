//! What the pattern examples share: with a subcommand (`plan`, `status`, `up`, …) an example
//! is the zdm CLI over its own migrations; with none it runs its demo on a runner connected to
//! `DATABASE_URL` and reports how it went through its exit code.

use std::process::ExitCode;

use zdm_runtime::{Migration, Options, Runner};

/// The outcome of a demo: an error is printed and makes the process exit non-zero.
pub type Outcome = Result<(), Box<dyn std::error::Error>>;

pub fn main(migrations: &'static [&'static dyn Migration], demo: fn(&mut Runner) -> Outcome) -> ExitCode {
    if std::env::args_os().len() > 1 {
        return zdm_runtime::cli::main(migrations);
    }
    match start(migrations).and_then(|mut runner| demo(&mut runner)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A runner on `DATABASE_URL` that has forgotten earlier runs of `migrations`, so that a rerun
/// of the demo starts them afresh.
fn start(migrations: &[&dyn Migration]) -> Result<Runner, Box<dyn std::error::Error>> {
    let mut runner = Runner::connect(&zdm_runtime::database_url(), Options::default())?;
    let ids: Vec<&str> = migrations.iter().map(|migration| migration.id()).collect();
    runner
        .client()
        .execute("DELETE FROM zdm.migrations WHERE id = ANY($1)", &[&ids])?;
    Ok(runner)
}
