//! What the runner reports of a phase and of each of its steps.

use std::time::Duration;

use crate::store::Direction;
use zdm_plan::Phase;

/// What one step did.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The step's description.
    pub description: &'static str,
    /// Wall time, retries included.
    pub duration: Duration,
    /// Rows written (backfills) or checked (preconditions).
    pub rows: u64,
    /// Lock attempts that timed out before the step went through.
    pub lock_retries: u32,
    /// Whether the step found its work already done (an index built by an earlier run).
    pub already_done: bool,
    /// What the step decided at run time, when that is worth saying (a type changed in
    /// place, a step skipped because of it).
    pub note: Option<String>,
}

/// What one phase, or one reversal, did.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// Forward or reversal.
    pub direction: Direction,
    /// Whether the run picked up an interrupted run of the same phase.
    pub resumed: bool,
    /// The steps run by this call, in order.
    pub steps: Vec<StepReport>,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: Duration = self.steps.iter().map(|step| step.duration).sum();
        let verb = match self.direction {
            Direction::Forward => "",
            Direction::Reverse => "revert ",
        };
        let resumed = if self.resumed { ", resumed" } else { "" };
        let steps = match self.steps.len() {
            1 => "1 step".to_owned(),
            count => format!("{count} steps"),
        };
        writeln!(
            f,
            "{verb}{} ({steps}, {} ms{resumed})",
            self.phase,
            total.as_millis()
        )?;
        if self.steps.is_empty() {
            writeln!(f, "  nothing to do")?;
        }
        for step in &self.steps {
            write!(f, "  - {} ({} ms", step.description, step.duration.as_millis())?;
            if step.rows > 0 {
                write!(f, ", {} rows", step.rows)?;
            }
            if step.lock_retries > 0 {
                write!(f, ", {} lock retries", step.lock_retries)?;
            }
            if step.already_done {
                write!(f, ", already done")?;
            }
            if let Some(note) = &step.note {
                write!(f, "; {note}")?;
            }
            writeln!(f, ")")?;
        }
        Ok(())
    }
}
