//! The `migrations` state table: one row per migration, written in the same transaction as the work it
//! records, so the row never claims more than was done.

use postgres::{Client, GenericClient};

use super::StateSchema;
use crate::error::{Error, Result};
use zdm_plan::{Phase, Plan};

/// Whether a phase runs or is being undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The phase's forward steps.
    Forward,
    /// The phase's reversal.
    Reverse,
}

impl Direction {
    /// `run` or `revert`.
    pub fn verb(self) -> &'static str {
        match self {
            Direction::Forward => "run",
            Direction::Reverse => "revert",
        }
    }
}

/// Where one migration stands, as recorded in the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// The last phase that completed; `None` before expand has.
    pub completed: Option<Phase>,
    /// A phase started and not finished (interrupted or failed), with its direction.
    pub running: Option<(Phase, Direction)>,
    /// Steps of `running` already done.
    pub step: i32,
    /// Rows written by the current backfill step.
    pub rows_done: i64,
    /// The backfill checkpoint: the last primary key done, as text per key column.
    pub cursor: Option<Vec<String>>,
    /// The message of the last failure, until the phase is run again.
    pub error: Option<String>,
    /// The checksum of the plan that started the migration.
    pub plan_checksum: Option<String>,
}

fn phase_from_column(value: Option<String>) -> Option<Phase> {
    value.as_deref().and_then(Phase::from_name)
}

pub(crate) fn load(client: &mut Client, state: &StateSchema, id: &str) -> Result<MigrationState> {
    let row = client
        .query_opt(
            &state.sql(
                "SELECT completed, running, direction, step, rows_done, cursor, error, plan_checksum \
             FROM {state}.migrations WHERE id = $1",
            ),
            &[&id],
        )
        .map_err(Error::State)?;
    let Some(row) = row else {
        return Ok(MigrationState::default());
    };
    let running = phase_from_column(row.get(1)).map(|phase| {
        let direction = match row.get::<_, Option<String>>(2).as_deref() {
            Some("revert") => Direction::Reverse,
            _ => Direction::Forward,
        };
        (phase, direction)
    });
    Ok(MigrationState {
        completed: phase_from_column(row.get(0)),
        running,
        step: row.get(3),
        rows_done: row.get(4),
        cursor: row.get(5),
        error: row.get(6),
        plan_checksum: Some(row.get(7)),
    })
}

pub(crate) fn begin(
    client: &mut Client,
    state: &StateSchema,
    plan: &Plan,
    phase: Phase,
    direction: Direction,
    checksum: &str,
) -> Result<()> {
    client
        .execute(
            &state.sql(
                "INSERT INTO {state}.migrations AS m (id, operation, running, direction, plan_checksum) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET running = $3, direction = $4, step = 0, rows_done = 0, \
                 cursor = NULL, error = NULL, updated_at = now()",
            ),
            &[
                &plan.id,
                &plan.operation,
                &phase.name(),
                &direction.verb(),
                &checksum,
            ],
        )
        .map(drop)
        .map_err(Error::State)
}

/// Puts the row back as `before` had it, after a phase refused before any change: deleted
/// if there was none.
pub(crate) fn restore(
    client: &mut Client,
    state: &StateSchema,
    id: &str,
    before: &MigrationState,
) -> Result<()> {
    if before.plan_checksum.is_none() {
        return client
            .execute(&state.sql("DELETE FROM {state}.migrations WHERE id = $1"), &[&id])
            .map(drop)
            .map_err(Error::State);
    }
    let running = before.running.map(|(phase, _)| phase.name());
    let direction = before.running.map(|(_, direction)| direction.verb());
    client
        .execute(
            &state.sql(
                "UPDATE {state}.migrations SET completed = $2, running = $3, direction = $4, step = $5, \
                 rows_done = $6, cursor = $7, error = $8, updated_at = now() WHERE id = $1",
            ),
            &[
                &id,
                &before.completed.map(Phase::name),
                &running,
                &direction,
                &before.step,
                &before.rows_done,
                &before.cursor,
                &before.error,
            ],
        )
        .map(drop)
        .map_err(Error::State)
}

/// Records that step `index` is done, and what the plan's names mean after it, inside the
/// caller's transaction.
pub(crate) fn advance_in(
    client: &mut impl GenericClient,
    state: &StateSchema,
    id: &str,
    index: usize,
) -> Result<(), postgres::Error> {
    let next = i32::try_from(index + 1).unwrap_or(i32::MAX);
    client.execute(
        &state.sql("UPDATE {state}.migrations SET step = $2, rows_done = 0, cursor = NULL, updated_at = now() WHERE id = $1"),
        &[&id, &next],
    )?;
    super::pins::refresh_in(client, state, id)
}

/// Records that step `index` is done, for steps whose work is not transactional.
pub(crate) fn advance(client: &mut Client, state: &StateSchema, id: &str, index: usize) -> Result<()> {
    advance_in(client, state, id, index).map_err(Error::State)
}

/// Records a backfill batch inside the batch's transaction.
pub(crate) fn checkpoint(
    client: &mut impl GenericClient,
    state: &StateSchema,
    id: &str,
    cursor: &[String],
    rows: i64,
) -> Result<(), postgres::Error> {
    client
        .execute(
            &state.sql("UPDATE {state}.migrations SET cursor = $2, rows_done = rows_done + $3, updated_at = now() WHERE id = $1"),
            &[&id, &cursor, &rows],
        )
        .map(drop)
}

pub(crate) fn finish(
    client: &mut Client,
    state: &StateSchema,
    id: &str,
    phase: Phase,
    direction: Direction,
) -> Result<()> {
    let completed = match direction {
        Direction::Forward => Some(phase.name()),
        Direction::Reverse => phase.previous().map(Phase::name),
    };
    client
        .execute(
            &state.sql(
                "UPDATE {state}.migrations SET completed = $2, running = NULL, direction = NULL, step = 0, \
                 rows_done = 0, cursor = NULL, error = NULL, updated_at = now() WHERE id = $1",
            ),
            &[&id, &completed],
        )
        .map(drop)
        .map_err(Error::State)
}

pub(crate) fn record_error(client: &mut Client, state: &StateSchema, id: &str, message: &str) -> Result<()> {
    client
        .execute(
            &state.sql("UPDATE {state}.migrations SET error = $2, updated_at = now() WHERE id = $1"),
            &[&id, &message],
        )
        .map(drop)
        .map_err(Error::State)
}
