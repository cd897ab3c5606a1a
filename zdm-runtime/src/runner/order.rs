//! Which phase may run or be reverted now, given what the state row records.

use crate::error::{Error, Result};
use crate::store::{Direction, MigrationState};
use zdm_plan::{Phase, Plan};

/// Refuses a run or a reversal out of order, and any run of a plan whose checksum is not
/// the one recorded when the migration started.
pub(super) fn check_order(
    plan: &Plan,
    state: &MigrationState,
    phase: Phase,
    direction: Direction,
    checksum: &str,
) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::PhaseOrder {
            migration: plan.id.to_string(),
            action: format!("{} {}", direction.verb(), phase),
            reason,
        })
    };
    if let Some(recorded) = &state.plan_checksum {
        if recorded != checksum && (state.completed.is_some() || state.running.is_some()) {
            return Err(Error::PlanChanged {
                migration: plan.id.to_string(),
                recorded: recorded.clone(),
                compiled: checksum.to_owned(),
            });
        }
    }
    if let Some((running, running_direction)) = state.running {
        if (running, running_direction) == (phase, direction) {
            return Ok(());
        }
        // A forward run that stopped half-way may be undone by its own reversal.
        if direction == Direction::Reverse && running == phase && running_direction == Direction::Forward {
            return Ok(());
        }
        return refuse(format!(
            "{} {} did not finish (stopped after step {}); run it again to resume it{}",
            running_direction.verb(),
            running,
            state.step,
            if running_direction == Direction::Forward {
                format!(", or revert {running} to undo it")
            } else {
                String::new()
            }
        ));
    }
    match direction {
        Direction::Forward => {
            if state.completed == phase.previous() {
                return Ok(());
            }
            match (state.completed, phase.previous()) {
                (Some(done), _) if done >= phase => refuse(format!(
                    "{phase} already ran (the last completed phase is {done})"
                )),
                (done, Some(needed)) => refuse(format!(
                    "{needed} must complete first (the last completed phase is {})",
                    done.map_or("none", Phase::name)
                )),
                (_, None) => refuse("the migration has already started".to_owned()),
            }
        }
        Direction::Reverse => {
            if state.completed == Some(phase) {
                return Ok(());
            }
            match state.completed {
                None => refuse(format!("{phase} never ran (no phase has completed)")),
                Some(done) => refuse(format!(
                    "only the last completed phase can be reverted, and that is {done}"
                )),
            }
        }
    }
}
