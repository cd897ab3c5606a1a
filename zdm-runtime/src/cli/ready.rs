//! `ready`: the deploy pipeline's question before it starts a new application version.

use super::{Cli, Failure, Output};
use crate::session;
use zdm_plan::Migration;

/// Succeeds, printing the search path the version puts first, when
/// [`check_ready`](crate::check_ready) does; fails with its message and exit code 7
/// otherwise.
pub(super) fn ready(cli: &Cli, migrations: &[&dyn Migration], out: &mut Output) -> Result<(), Failure> {
    let mut client = session::connect(&cli.database_url)?;
    crate::check_ready(&mut client, migrations, &cli.state_schema)?;
    let path = crate::version_search_path(migrations);
    if path.is_empty() {
        outln!(out, "ready: every migration has completed expand");
    } else {
        outln!(
            out,
            "ready: every migration has completed expand; version schemas for the search path: {path}"
        );
    }
    Ok(())
}
