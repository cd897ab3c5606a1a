//! Batched backfill: by keyset pagination on the primary key or a unique index over NOT
//! NULL columns ([`keys`]), or, when chosen on PostgreSQL 14+, by ranges of heap pages
//! ([`pages`]), several at once on connections of their own ([`parallel`]).
//!
//! Each batch is one short transaction that runs the step's statements over the batch's
//! range and stores the range's end as the new cursor in the state row before committing.
//! A killed runner therefore resumes exactly after the last committed batch: no row is done
//! twice or skipped, and no batch re-scans rows already done, so the cost is linear in the
//! table size. Between batches, [`pacing`] adapts, throttles and vacuums, and every batch
//! first waits for lagging replicas.

mod keys;
mod latency;
mod pacing;
mod pages;
mod parallel;

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::Transaction;

use crate::error::Result;
use crate::events::Event;
use crate::session::{short_transaction, Options, Session, StepContext};
use crate::statement::ExecuteOne;
use crate::store;
use zdm_plan::sql::STATE_SCHEMA;
use zdm_plan::Backfill;

use keys::KeyColumn;
use pacing::{table_size, Pacing};
use pages::Pages;

/// What a backfill step did.
pub(crate) struct Outcome {
    pub(crate) rows: u64,
    pub(crate) lock_retries: u32,
    /// The table's size before and after, when the backfill vacuumed it.
    pub(crate) note: Option<String>,
}

/// How the batches walk the table.
enum Walk {
    Keys(Vec<KeyColumn>, Option<Vec<String>>),
    Pages(Pages),
}

pub(crate) fn run(session: &mut Session, context: &StepContext, spec: &Backfill) -> Result<Outcome> {
    walk(
        session,
        context,
        &spec.table,
        &spec.statements,
        spec.writes_filled,
    )
}

/// [`run`] over statements composed at run time, by keys: the rows they fill are not all
/// filled by the application's writes too (see [`Backfill::writes_filled`]).
pub(crate) fn run_statements(
    session: &mut Session,
    context: &StepContext,
    table: &str,
    statements: &[impl AsRef<str> + Sync],
) -> Result<Outcome> {
    walk(session, context, table, statements, false)
}

fn walk(
    session: &mut Session,
    context: &StepContext,
    table: &str,
    statements: &[impl AsRef<str> + Sync],
    writes_filled: bool,
) -> Result<Outcome> {
    let key = keys::primary_key(session, context, table)?;
    let key_len = key.len();
    // `{key}` in a statement: the key columns, for statements that record the rows they fill.
    let key_list = keys::column_list(&key);
    let state = store::load(session.client(), context.state, &context.plan.id)?;
    let cursor = state.cursor.as_deref();
    let mut walk = if pages::chosen(session, context, table, (key_len, cursor), writes_filled)? {
        Walk::Pages(Pages::start(session.client(), context, table, key_len, cursor)?)
    } else {
        Walk::Keys(key, state.cursor.clone())
    };
    let estimate = row_estimate(session, context, table)?;
    let size_before = table_size(session, context, table)?;
    let mut rows_done = u64::try_from(state.rows_done).unwrap_or(0);
    let mut pacing = Pacing::new(session, estimate);
    let mut outcome = Outcome {
        rows: 0,
        lock_retries: 0,
        note: None,
    };
    let batch = Batch {
        table,
        statements,
        key_list: &key_list,
        key_len,
    };
    let mut workers = parallel::Workers::open(session, context, &walk)?;
    loop {
        session.wait_for_replicas(context)?;
        let started = Instant::now();
        let done = match &walk {
            Walk::Keys(key, after) => batch.run(
                session,
                context,
                Target::Keys(key, after.as_deref(), pacing.batch),
            )?,
            Walk::Pages(pages) => workers.round(session, context, &batch, pages, pacing.batch)?,
        };
        outcome.lock_retries += done.lock_retries;
        outcome.rows += done.rows;
        rows_done += done.rows;
        let batch_size = match &walk {
            Walk::Keys(..) => pacing.batch,
            Walk::Pages(pages) => pages.rows_per_batch(pacing.batch),
        };
        session.emit(Event::BackfillProgress {
            migration: &context.plan.id,
            step: context.step,
            rows_done,
            estimate,
            batch_size,
        });
        let Some(checkpoint) = done.checkpoint else {
            if session.options().vacuum_every_rows > 0 {
                let size_after = table_size(session, context, table)?;
                outcome.note = Some(format!(
                    "table {} before, {} after",
                    megabytes(size_before),
                    megabytes(size_after)
                ));
            }
            return Ok(outcome);
        };
        match &mut walk {
            Walk::Keys(_, after) => *after = Some(checkpoint),
            Walk::Pages(pages) => pages.advance(&checkpoint, key_len),
        }
        workers.after_round(session, context)?;
        pacing.after_batch(session, context, table, (done.rows, started.elapsed(), done.held))?;
    }
}

/// What every batch of a step runs.
struct Batch<'a, S> {
    table: &'a str,
    statements: &'a [S],
    key_list: &'a str,
    key_len: usize,
}

/// What one batch covers: the keys after a cursor, found inside the batch's transaction,
/// or a range decided beforehand with the checkpoint that ends it (`None` for the last).
enum Target<'a> {
    Keys(&'a [KeyColumn], Option<&'a [String]>, u32),
    Range(&'a str, Option<&'a [String]>),
}

/// What committed batches did.
#[derive(Default)]
struct Done {
    rows: u64,
    lock_retries: u32,
    /// How long an application write had waited behind a batch when it committed.
    held: Duration,
    /// Where the next batch starts; `None` after the last.
    checkpoint: Option<Vec<String>>,
}

impl<S: AsRef<str>> Batch<'_, S> {
    /// Runs one batch in one short transaction with its checkpoint, or, for the last
    /// batch, the step's completion.
    fn run(&self, session: &mut Session, context: &StepContext, target: Target) -> Result<Done> {
        let mut done = Done::default();
        done.lock_retries = session.with_lock_retries(context, |client, options| {
            let mut transaction = short_transaction(client, options)?;
            let (range, checkpoint) = match target {
                Target::Keys(key, after, size) => {
                    keys::next_range(&mut transaction, self.table, key, after, size)?
                }
                Target::Range(range, checkpoint) => (range.to_owned(), checkpoint.map(<[String]>::to_vec)),
            };
            (done.rows, done.held) = self.write(&mut transaction, context, options, &range)?;
            self.record(&mut transaction, context, checkpoint.as_deref(), done.rows)?;
            transaction.commit()?;
            done.checkpoint = checkpoint;
            Ok(())
        })?;
        Ok(done)
    }

    /// Runs the step's statements over `range`: the rows they wrote, and how long an
    /// application write has waited behind them.
    fn write(
        &self,
        transaction: &mut Transaction<'_>,
        context: &StepContext,
        options: &Options,
        range: &str,
    ) -> Result<(u64, Duration), postgres::Error> {
        if options.skip_user_triggers {
            transaction.execute_one("SET LOCAL session_replication_role = replica")?;
        }
        let mut rows = 0;
        for statement in self.statements {
            // In one pass, outside quotes: the range holds values read from the table
            // and names hold anything, `{key}` and `{range}` included.
            let statement = zdm_plan::sql::substitute(
                statement.as_ref(),
                &[
                    ("{key}", self.key_list),
                    ("{range}", &format!("({range})")),
                    (STATE_SCHEMA, context.state.quoted()),
                ],
            );
            rows += rows_written(transaction, &statement)?;
        }
        Ok((rows, pacing::longest_waiter(transaction)?))
    }

    /// Stores the checkpoint ending the batch, or, after the last batch, the step's
    /// completion, in the batch's transaction.
    ///
    /// A batch with a checkpoint commits without waiting for its WAL to reach the disk: a
    /// server crash can lose only whole batches, each with its own checkpoint, which the
    /// resumed backfill then writes again. Anything committed after it waits for it (the
    /// WAL is flushed in order), including the step's completion, which waits as usual.
    fn record(
        &self,
        transaction: &mut Transaction<'_>,
        context: &StepContext,
        checkpoint: Option<&[String]>,
        rows: u64,
    ) -> Result<(), postgres::Error> {
        match checkpoint {
            Some(checkpoint) => {
                transaction.execute_one("SET LOCAL synchronous_commit = off")?;
                store::checkpoint(
                    transaction,
                    context.state,
                    &context.plan.id,
                    checkpoint,
                    rows as i64,
                )
            }
            None => store::advance_in(transaction, context.state, &context.plan.id, context.index),
        }
    }
}

/// Runs one backfill statement: the rows it wrote. A statement that writes through a
/// data-modifying `WITH` and returns one row with a `zdm_rows` column (the rows it filled,
/// a `bigint`) counts that; any other, the rows it affected.
fn rows_written(transaction: &mut Transaction<'_>, statement: &str) -> Result<u64, postgres::Error> {
    let mut result = transaction.query_raw(statement, std::iter::empty::<i32>())?;
    let mut counted = None;
    while let Some(row) = result.next()? {
        if let Some(index) = row
            .columns()
            .iter()
            .position(|column| column.name() == "zdm_rows")
        {
            counted = row
                .try_get::<_, i64>(index)
                .ok()
                .map(|rows| u64::try_from(rows).unwrap_or(0));
        }
    }
    Ok(counted.or(result.rows_affected()).unwrap_or(0))
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
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
