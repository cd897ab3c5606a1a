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
        /// Key values per batch, as adapted.
        batch_size: u32,
    },
}
