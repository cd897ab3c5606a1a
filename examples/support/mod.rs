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
    // An earlier run's version schemas hold views over the demo's tables, which the demo
    // drops and creates again.
    runner.client().execute(
        "SELECT set_config('zdm.demo_ids', $1, false)",
        &[&format!("{{{}}}", ids.join(","))],
    )?;
    runner.client().batch_execute(
        "DO $$ BEGIN
           IF to_regclass('zdm.version_columns') IS NOT NULL THEN
             DELETE FROM zdm.version_columns WHERE migration = ANY(current_setting('zdm.demo_ids')::text[]);
           END IF;
         END $$",
    )?;
    for migration in migrations {
        let schema = zdm_runtime::quote_ident(&zdm_plan::names::version_schema(migration.id()));
        runner
            .client()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    Ok(runner)
}
