//! What happens between batches: the batch size adapts to its target duration, the
//! optional rate limit and pause hold the backfill back, and a `VACUUM` every so many
//! rows frees the space of the rows replaced so far, which later batches reuse.

use std::time::{Duration, Instant};

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::session::{BatchSize, Session, StepContext};

const FIRST_ADAPTIVE_BATCH: u32 = 1_000;
const MIN_BATCH: u32 = 100;
const MAX_BATCH: u32 = 100_000;
/// At most this many vacuums in a backfill, over a table of any size.
const VACUUMS: u64 = 20;
/// An application write that has waited this long behind a batch, for a row the batch
/// holds, halves the batch's ceiling: a batch's length is what such a write waits at most.
const HELD_TOO_LONG: Duration = Duration::from_millis(50);
/// The shortest time target the application's waits can bring a backfill down to: below
/// it, each batch's commit and checkpoint cost more than the rows it writes.
const MIN_TARGET: Duration = Duration::from_millis(20);

pub(super) struct Pacing {
    /// Rows the next batch should cover.
    pub(super) batch: u32,
    /// The largest batch the application's waits allow: halved when a write waited too
    /// long behind a batch, grown back a tenth per batch no write waited behind.
    ceiling: u32,
    /// The batch time target in force: the option's, halved each time a write waited too
    /// long behind a batch, grown back a fiftieth per batch no write waited behind. The
    /// application contending for the rows a backfill holds is measured, not assumed, and
    /// shortens every later batch, not only the next few.
    target: Option<Duration>,
    started: Instant,
    rows: u64,
    /// `rows` at the last vacuum.
    vacuumed_at: u64,
    /// Rows between vacuums: the option's, or a twentieth of the table when that is more.
    /// Each vacuum reads every page the backfill changed so far (index cleanup is off, so
    /// their dead line pointers keep them from the visibility map), so a fixed number of
    /// vacuums keeps their cost linear in the table.
    vacuum_every: u64,
}

impl Pacing {
    pub(super) fn new(session: &Session, estimate: u64) -> Pacing {
        let every = session.options().vacuum_every_rows;
        Pacing {
            batch: match session.options().batch {
                BatchSize::Fixed(size) => size.max(1),
                BatchSize::Target(_) => FIRST_ADAPTIVE_BATCH,
            },
            ceiling: MAX_BATCH,
            target: match session.options().batch {
                BatchSize::Fixed(_) => None,
                BatchSize::Target(target) => Some(target),
            },
            started: Instant::now(),
            rows: 0,
            vacuumed_at: 0,
            vacuum_every: if every == 0 {
                0
            } else {
                every.max(estimate / VACUUMS)
            },
        }
    }

    /// After a batch of `rows` rows that took `took`, with an application write waiting
    /// behind it for `held` when it committed: adapts the size, vacuums when due, then
    /// waits as the rate limit and pause ask.
    pub(super) fn after_batch(
        &mut self,
        session: &mut Session,
        context: &StepContext,
        table: &str,
        (rows, took, held): (u64, Duration, Duration),
    ) -> Result<()> {
        self.rows += rows;
        let options = session.options().clone();
        if let (Some(target), BatchSize::Target(configured)) = (self.target, options.batch) {
            self.ceiling = if held > HELD_TOO_LONG {
                (self.batch / 2).max(MIN_BATCH)
            } else {
                self.ceiling.saturating_add(self.ceiling / 10).min(MAX_BATCH)
            };
            let target = next_target(target, configured, held);
            self.target = Some(target);
            self.batch = adapt(self.batch, took, target).min(self.ceiling);
        }
        if self.vacuum_every > 0 && self.rows - self.vacuumed_at >= self.vacuum_every {
            vacuum(session, context, table)?;
            self.vacuumed_at = self.rows;
        }
        let mut wait = options.batch_pause;
        if let Some(limit) = options.max_rows_per_second.filter(|limit| *limit > 0) {
            let due = Duration::from_secs_f64(self.rows as f64 / f64::from(limit));
            wait = wait.max(due.saturating_sub(self.started.elapsed()));
        }
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        Ok(())
    }
}

/// How long the application's longest-waiting write has been queued behind the batch of
/// `transaction`, for a row the batch updated: what the batch costs the application, read
/// just before it commits.
pub(super) fn longest_waiter(transaction: &mut Transaction<'_>) -> Result<Duration, postgres::Error> {
    let seconds: f64 = transaction
        .query_one(
            "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - a.query_start)), 0)::float8 \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE NOT l.granted AND l.locktype = 'transactionid' \
               AND l.transactionid::text = (txid_current_if_assigned() % 4294967296)::text",
            &[],
        )?
        .get(0);
    Ok(Duration::from_secs_f64(seconds.max(0.0)))
}

/// The time target after a batch behind which an application write waited `held`.
fn next_target(target: Duration, configured: Duration, held: Duration) -> Duration {
    if held > HELD_TOO_LONG {
        (target / 2).max(MIN_TARGET.min(configured))
    } else {
        target.saturating_add(target / 50).min(configured)
    }
}

/// The next batch size: scaled toward the target duration, at most doubling or halving
/// per batch so one slow batch (a checkpoint, a lock wait) does not swing it.
fn adapt(batch: u32, took: Duration, target: Duration) -> u32 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-4);
    let next = f64::from(batch) * ratio.clamp(0.5, 2.0);
    (next as u32).clamp(MIN_BATCH, MAX_BATCH)
}

/// The table's size in bytes (`pg_table_size`: heap, free space and visibility maps, TOAST).
pub(super) fn table_size(session: &mut Session, context: &StepContext, table: &str) -> Result<u64> {
    let size: i64 = session
        .client()
        .query_one("SELECT coalesce(pg_table_size(to_regclass($1)), 0)", &[&table])
        .map_err(|error| context.failed(error))?
        .get(0);
    Ok(u64::try_from(size).unwrap_or(0))
}

/// A `VACUUM` of the table: it runs beside reads and writes, and records the space of the
/// rows replaced so far in the free space map, where the next batches' new row versions
/// go instead of the end of the table. Index cleanup is left to autovacuum: reclaiming the
/// heap space needs none, and scanning every index each round would cost more than the
/// batches between rounds.
///
/// An autovacuum of the table holds the lock a `VACUUM` takes for as long as its throttled
/// pace needs, and skipping the rounds meanwhile (`SKIP_LOCKED`) would let the table grow
/// as if no round ran. So the round waits for the lock instead: PostgreSQL cancels an autovacuum that
/// blocks a lock request after `deadlock_timeout` (unless it prevents wraparound). The wait
/// blocks no read or write of the application, only schema changes and other vacuums of
/// the table, and lasts at most twice `deadlock_timeout`; then the round is skipped.
fn vacuum(session: &mut Session, context: &StepContext, table: &str) -> Result<()> {
    let size_before = table_size(session, context, table)?;
    let client = session.client();
    client
        .batch_execute(
            "SELECT set_config('lock_timeout', \
               (2000 * extract(epoch FROM current_setting('deadlock_timeout')::interval))::bigint::text, false)",
        )
        .map_err(|error| context.failed(error))?;
    let vacuumed = client.batch_execute(&format!("VACUUM (INDEX_CLEANUP OFF) {table}"));
    client
        .batch_execute("RESET lock_timeout")
        .map_err(|error| context.failed(error))?;
    match vacuumed {
        Ok(()) => {}
        Err(error) if Error::is_lock_timeout(&error) => return Ok(()),
        Err(error) => return Err(context.failed(error)),
    }
    let size_after = table_size(session, context, table)?;
    session.emit(Event::BackfillVacuum {
        migration: &context.plan.id,
        step: context.step,
        size_before,
        size_after,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::next_target;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_write_held_too_long_halves_the_target_down_to_20_ms_and_it_grows_back_slowly() {
        assert_eq!(next_target(MS(80), MS(80), MS(51)), MS(40));
        assert_eq!(next_target(MS(30), MS(80), MS(200)), MS(20));
        // A target configured below the floor is never raised by it.
        assert_eq!(next_target(MS(10), MS(10), MS(200)), MS(10));
        assert_eq!(next_target(MS(50), MS(80), MS(50)), MS(51));
        assert_eq!(next_target(MS(80), MS(80), Duration::ZERO), MS(80));
    }
}
