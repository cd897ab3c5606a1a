//! Whether an application version built with a list of migrations may start: a version
//! started before a migration's expand would resolve the tables' names to the tables of the
//! old shape (its version schema not there yet) and write that shape.

use postgres::Client;

use crate::error::{Error, Result};
use crate::store::StateSchema;
use crate::versions;
use zdm_plan::{names, Migration, Phase};

/// Checks that an application version built with `migrations` may start: every migration
/// has completed expand, and each one's version schema, if it has one, holds its views
/// until its contract has completed (after that a later contract of the same tables, or
/// `drop-version-schema`, may have dropped it: the names then resolve to the tables, which
/// have that shape). Reads the state in `state_schema` (`zdm` unless the runner is told
/// otherwise), so the role needs `SELECT` on its `migrations` table, and the catalog.
///
/// The error names the first migration that is not there yet and what to run. Call it at
/// startup of the new version, before it takes traffic; `migrate ready` says the same for
/// a deploy pipeline. It checks expand only: an operation whose new version waits for a
/// later phase (change_type and drop_column for sync, split_table for backfill) says so in
/// its deploy order.
pub fn check_ready(client: &mut Client, migrations: &[&dyn Migration], state_schema: &str) -> Result<()> {
    let state = StateSchema::new(state_schema)?;
    let recorded: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("migrations")],
        )
        .map_err(Error::State)?
        .get(0);
    for migration in migrations {
        let id = migration.id();
        let completed: Option<String> = if recorded {
            client
                .query_opt(
                    &state.sql("SELECT completed FROM {state}.migrations WHERE id = $1"),
                    &[&id],
                )
                .map_err(Error::State)?
                .and_then(|row| row.get(0))
        } else {
            None
        };
        let completed = completed.as_deref().and_then(Phase::from_name);
        let schema = (!migration.plan().presents.is_empty()).then(|| names::version_schema(id));
        let expand = format!("complete expand (`up {id} --to expand`) before starting that version");
        let reason = match (completed, &schema) {
            (None, Some(schema)) => format!(
                "expand has not completed, so the version schema {schema} does not exist and an application \
                 version with it on its search_path would find the tables in their old shape; {expand}"
            ),
            (None, None) => format!(
                "expand has not completed, so the tables do not have the shape the new application version \
                 uses; {expand}"
            ),
            (Some(phase), Some(schema)) if phase < Phase::Contract && !versions::has_views(client, schema)? => format!(
                "the version schema {schema} has no views, though {phase} has completed and contract has not \
                 (dropped after the contract, which was then reverted, or outside zdm, or a reversal of expand \
                 under way); start that version once the migration has been reverted to pending \
                 (`revert {id} --to pending --new-version-stopped`) and expand has run again"
            ),
            _ => continue,
        };
        return Err(Error::NotReady {
            migration: id.to_owned(),
            reason,
        });
    }
    Ok(())
}
