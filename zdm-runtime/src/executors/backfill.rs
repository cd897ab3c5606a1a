//! Batched backfill by keyset pagination on the primary key, or else on a unique index over
//! NOT NULL columns.
//!
//! Each batch is one short transaction that finds the batch's upper key through the primary
//! key index, runs the step's statements over the key range `(cursor, upper]`, and stores
//! `upper` as the new cursor in the state row before committing. A killed runner therefore
//! resumes exactly after the last committed batch: no row is done twice or skipped, and no
//! batch re-scans rows already done, so the cost is linear in the table size.

use std::time::{Duration, Instant};

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::expect;
use crate::session::{short_transaction, BatchSize, Session, StepContext};
use crate::statement::ExecuteOne;
use crate::store;
use zdm_plan::sql::{quote_ident, quote_literal, STATE_SCHEMA};
use zdm_plan::Backfill;

const FIRST_ADAPTIVE_BATCH: u32 = 1_000;
const MIN_BATCH: u32 = 100;
const MAX_BATCH: u32 = 100_000;

/// What a backfill step did.
pub(crate) struct Outcome {
    pub(crate) rows: u64,
    pub(crate) lock_retries: u32,
}

/// A primary-key column: its quoted name and its type as `format_type` prints it.
struct KeyColumn {
    name: String,
    ty: String,
}

pub(crate) fn run(session: &mut Session, context: &StepContext, spec: &Backfill) -> Result<Outcome> {
    run_statements(session, context, &spec.table, &spec.statements)
}

/// [`run`] over statements composed at run time.
pub(crate) fn run_statements(
    session: &mut Session,
    context: &StepContext,
    table: &str,
    statements: &[impl AsRef<str>],
) -> Result<Outcome> {
    let key = primary_key(session, context, table)?;
    // `{key}` in a statement: the key columns, for statements that record the rows they fill.
    let key_list = column_list(&key);
    let state = store::load(session.client(), context.state, &context.plan.id)?;
    let mut cursor = state.cursor;
    let estimate = row_estimate(session, context, table)?;
    let mut rows_done = u64::try_from(state.rows_done).unwrap_or(0);
    let mut batch = match session.options().batch {
        BatchSize::Fixed(size) => size.max(1),
        BatchSize::Target(_) => FIRST_ADAPTIVE_BATCH,
    };
    let mut outcome = Outcome {
        rows: 0,
        lock_retries: 0,
    };
    loop {
        let started = Instant::now();
        let mut last_batch = false;
        let mut rows = 0u64;
        let mut next_cursor = None;
        let after = cursor.as_deref().map(|values| row_bound(&key, ">", values));
        outcome.lock_retries += session.with_lock_retries(context, |client, options| {
            let mut transaction = short_transaction(client, options)?;
            if options.skip_user_triggers {
                transaction.execute_one("SET LOCAL session_replication_role = replica")?;
            }
            let upper = batch_upper_bound(&mut transaction, table, &key, after.as_deref(), batch)?;
            let mut range = after.clone().unwrap_or_else(|| "true".to_owned());
            if let Some(upper) = &upper {
                range = format!("{range} AND {}", row_bound(&key, "<=", upper));
            }
            rows = run_batch(&mut transaction, context, statements, &key_list, &range)?;
            match &upper {
                Some(upper) => {
                    store::checkpoint(
                        &mut transaction,
                        context.state,
                        &context.plan.id,
                        upper,
                        rows as i64,
                    )?;
                }
                None => store::advance_in(&mut transaction, context.state, &context.plan.id, context.index)?,
            }
            transaction.commit()?;
            last_batch = upper.is_none();
            next_cursor = upper;
            Ok(())
        })?;
        outcome.rows += rows;
        rows_done += rows;
        session.emit(Event::BackfillProgress {
            migration: &context.plan.id,
            step: context.step,
            rows_done,
            estimate,
            batch_size: batch,
        });
        if last_batch {
            return Ok(outcome);
        }
        cursor = next_cursor;
        if let BatchSize::Target(target) = session.options().batch {
            batch = adapt(batch, started.elapsed(), target);
        }
    }
}

/// Runs `statements` over the rows in `range`, with `{key}` standing for `key_list`;
/// returns the rows they wrote.
fn run_batch(
    transaction: &mut Transaction<'_>,
    context: &StepContext,
    statements: &[impl AsRef<str>],
    key_list: &str,
    range: &str,
) -> Result<u64, postgres::Error> {
    let range = format!("({range})");
    // In one pass, outside quotes: the range holds values read from the table and names
    // hold anything, `{key}` and `{range}` included.
    let replacements = [
        ("{key}", key_list),
        ("{range}", &range),
        (STATE_SCHEMA, context.state.quoted()),
    ];
    let mut rows = 0;
    for statement in statements {
        let statement = zdm_plan::sql::substitute(statement.as_ref(), &replacements);
        rows += transaction.execute(statement.as_str(), &[])?;
    }
    Ok(rows)
}

/// The next batch size: scaled toward the target duration, at most doubling or halving
/// per batch so one slow batch (a checkpoint, a lock wait) does not swing it.
fn adapt(batch: u32, took: Duration, target: Duration) -> u32 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-4);
    let next = f64::from(batch) * ratio.clamp(0.5, 2.0);
    (next as u32).clamp(MIN_BATCH, MAX_BATCH)
}

/// The key of the `batch`-th row after `after`, or `None` when fewer rows remain, in which
/// case the batch runs to the end of the table.
fn batch_upper_bound(
    transaction: &mut Transaction<'_>,
    table: &str,
    key: &[KeyColumn],
    after: Option<&str>,
    batch: u32,
) -> Result<Option<Vec<String>>, postgres::Error> {
    // Qualified names: a bare `ORDER BY "id"` would sort by the `"id"::text` output column,
    // in text order.
    let texts = key
        .iter()
        .map(|column| format!("zdm_t.{}::text", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let order = key
        .iter()
        .map(|column| format!("zdm_t.{}", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {texts} FROM {table} AS zdm_t WHERE {} ORDER BY {order} OFFSET {} LIMIT 1",
        after.unwrap_or("true"),
        batch.saturating_sub(1)
    );
    let row = transaction.query_opt(sql.as_str(), &[])?;
    Ok(row.map(|row| (0..key.len()).map(|index| row.get(index)).collect()))
}

/// `"k1", "k2"`.
fn column_list(key: &[KeyColumn]) -> String {
    key.iter()
        .map(|column| column.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(k1, k2) <op> ('v1'::t1, 'v2'::t2)`: a row comparison the primary key index serves.
/// The values were read from the table itself and are passed back as typed literals.
fn row_bound(key: &[KeyColumn], op: &str, values: &[String]) -> String {
    let columns = column_list(key);
    let literals = key
        .iter()
        .zip(values)
        .map(|(column, value)| format!("{}::{}", quote_literal(value), column.ty))
        .collect::<Vec<_>>()
        .join(", ");
    format!("({columns}) {op} ({literals})")
}

fn primary_key(session: &mut Session, context: &StepContext, table: &str) -> Result<Vec<KeyColumn>> {
    let key = expect::batch_key(session.client(), table).map_err(|error| context.failed(error))?;
    if key.is_empty() {
        return Err(Error::Drift {
            migration: context.plan.id.to_string(),
            expected: format!("a primary key or a unique index over NOT NULL columns on {table} to paginate the backfill by"),
            found: "neither".to_owned(),
        });
    }
    Ok(key
        .into_iter()
        .map(|(name, ty)| KeyColumn {
            name: quote_ident(&name),
            ty,
        })
        .collect())
}

/// The planner's row count of `table`, for progress; 0 when the table was never analyzed.
fn row_estimate(session: &mut Session, context: &StepContext, table: &str) -> Result<u64> {
    let estimate: f32 = session
        .client()
        .query_one(
            "SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), 0)",
            &[&table],
        )
        .map_err(|error| context.failed(error))?
        .get(0);
    Ok(estimate.max(0.0) as u64)
}
