//! What a runner reports while it works, for progress bars, logs and blocker reports.

use std::time::Duration;

use crate::error::Blocker;
use crate::report::StepReport;
use crate::store::Direction;
use zdm_plan::{Phase, Step};

/// One thing that happened inside [`Runner`](crate::Runner); see
/// [`Runner::observe`](crate::Runner::observe).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A phase or a reversal starts (or resumes).
    PhaseStarted {
        migration: &'a str,
        phase: Phase,
        direction: Direction,
        resumed: bool,
        /// Steps left to run.
        steps: usize,
    },
    /// A step starts.
    StepStarted {
        migration: &'a str,
        phase: Phase,
        index: usize,
        step: &'static Step,
    },
    /// A step finished.
    StepFinished {
        migration: &'a str,
        report: &'a StepReport,
    },
    /// A statement's lock wait timed out; the step is retried after `retry_in`.
    LockWait {
        migration: &'a str,
        step: &'static Step,
        attempt: u32,
        /// Sessions holding locks on the step's table when the wait timed out.
        blockers: &'a [Blocker],
        retry_in: Duration,
    },
    /// A backfill batch committed.
    BackfillProgress {
        migration: &'a str,
        step: &'static Step,
        /// Rows written by this step so far, resumed runs included.
        rows_done: u64,
        /// The planner's estimate of the table's rows (`pg_class.reltuples`); 0 if unknown.
        estimate: u64,
        /// Rows per batch, as adapted: key values, or the estimated rows of the batch's
        /// heap pages.
        batch_size: u32,
    },
    /// A bulk step waits for a streaming replica to catch up before its next write.
    ReplicaLag {
        migration: &'a str,
        step: &'static Step,
        /// The replica's `application_name`.
        replica: &'a str,
        /// WAL bytes the replica has still to replay.
        bytes: u64,
        /// The replica's `replay_lag`, when the server has measured one.
        replay_lag: Option<Duration>,
        /// How long this wait has lasted so far.
        waited: Duration,
    },
    /// A backfill vacuumed its table between batches, so later batches reuse the space.
    BackfillVacuum {
        migration: &'a str,
        step: &'static Step,
        /// The table's size (`pg_table_size`) before and after the vacuum, in bytes.
        size_before: u64,
        size_after: u64,
    },
    /// A heap-page backfill changed how many batches it runs at once: commits took more
    /// than twice their time before the backfill while the application ran, or have
    /// stayed near it again, or no other session of the database has been active.
    BackfillWorkers {
        migration: &'a str,
        step: &'static Step,
        /// Batches per round from now on.
        running: u32,
        /// The commit that decided it, `None` when no other session of the database was
        /// active (nothing was probed); and the commit before the backfill.
        commit_latency: Option<Duration>,
        baseline: Duration,
    },
}
