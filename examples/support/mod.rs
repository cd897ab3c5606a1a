//! What the pattern examples share: with a subcommand (`plan`, `status`, `up`, …) an example
//! is the zdm CLI over its own migrations; with none it runs its demo and reports how it
//! went through its exit code.

use std::process::ExitCode;

use zdm_runtime::Migration;

/// The outcome of a demo: an error is printed and makes the process exit non-zero.
pub type Outcome = Result<(), Box<dyn std::error::Error>>;

pub fn main(migrations: &'static [&'static dyn Migration], demo: fn() -> Outcome) -> ExitCode {
    if std::env::args_os().len() > 1 {
        return zdm_runtime::cli::main(migrations);
    }
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
