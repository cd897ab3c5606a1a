//! `status`: where each migration stands, as a table for people or JSON for programs.

use super::{read_state, Cli, Failure, Output};
use crate::session;
use crate::store::MigrationState;
use zdm_plan::{Migration, Phase};

pub(super) fn status(
    cli: &Cli,
    migrations: &[&dyn Migration],
    json: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    let mut client = session::connect(&cli.database_url)?;
    let mut states = Vec::new();
    for migration in migrations {
        states.push((*migration, read_state(cli, &mut client, migration.id())?));
    }
    if json {
        json_status(migrations, &states, out);
        return Ok(());
    }
    // As wide as a multi-operation declaration's names (`add_column + add_index`) need, so
    // the columns after it stay aligned.
    let width = states
        .iter()
        .map(|(migration, _)| migration.plan().operation.len())
        .max()
        .unwrap_or(0)
        .max(16);
    outln!(
        out,
        "{:<36} {:<width$} {:<10} STATE",
        "ID",
        "OPERATION",
        "COMPLETED"
    );
    for (migration, state) in &states {
        let completed = state.completed.map_or("pending", Phase::name);
        let describe = match state.running {
            Some((phase, direction)) => {
                let mut text = format!("{} {phase} stopped after step {}", direction.verb(), state.step);
                if state.rows_done > 0 {
                    text.push_str(&format!(", {} rows backfilled", state.rows_done));
                }
                if let Some(error) = &state.error {
                    text.push_str(&format!(": {}", error.lines().next().unwrap_or_default()));
                }
                text
            }
            None => match next_phase(state) {
                Some(next) => format!("next: {next}"),
                None => "done".to_owned(),
            },
        };
        outln!(
            out,
            "{:<36} {:<width$} {:<10} {describe}",
            migration.id(),
            migration.plan().operation,
            completed
        );
    }
    Ok(())
}

pub(super) fn next_phase(state: &MigrationState) -> Option<Phase> {
    match state.completed {
        None => Some(Phase::Expand),
        Some(done) => done.next(),
    }
}

/// `status --json`: one object per migration, and the search path of the newest version.
fn json_status(migrations: &[&dyn Migration], states: &[(&dyn Migration, MigrationState)], out: &mut Output) {
    let entries: Vec<serde_json::Value> = states
        .iter()
        .map(|(migration, state)| {
            serde_json::json!({
                "id": migration.id(),
                "operation": migration.plan().operation,
                "completed": state.completed.map(Phase::name),
                "running": state.running.map(|(phase, _)| phase.name()),
                "direction": state.running.map(|(_, direction)| direction.verb()),
                "step": state.step,
                "rows_done": state.rows_done,
                "error": state.error,
                "next": next_phase(state).map(Phase::name),
                "version_schema": (!migration.plan().presents.is_empty())
                    .then(|| zdm_plan::names::version_schema(migration.id())),
            })
        })
        .collect();
    let search_path = crate::version_search_path(migrations);
    outln!(
        out,
        "{}",
        serde_json::json!({ "migrations": entries, "search_path": search_path })
    );
}
