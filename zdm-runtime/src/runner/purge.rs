//! `purge`: what a completed contract set aside instead of dropping (a dropped table) is
//! thrown away for good, when the operator says so and not before.

use super::Runner;
use crate::error::{Error, Result};
use crate::executors;
use crate::report::StepReport;
use crate::session::StepContext;
use crate::store::{self, Direction};
use zdm_plan::{Migration, Phase};

impl Runner {
    /// Runs the plan's purge steps, which drop for good what its contract set aside; the
    /// migration must have completed contract, which can no longer be reverted afterwards.
    /// Safe to run again; a plan with nothing to purge does nothing.
    pub fn purge(&mut self, migration: &dyn Migration) -> Result<Vec<StepReport>> {
        let plan = migration.plan();
        let state = self.after_contract(
            plan,
            "purge",
            "purge throws away what contract set aside, so it runs only once contract has completed",
        )?;
        let checksum = plan.checksum();
        if let Some(recorded) = state
            .plan_checksum
            .as_ref()
            .filter(|recorded| **recorded != checksum)
        {
            return Err(Error::PlanChanged {
                migration: plan.id.to_string(),
                recorded: recorded.clone(),
                compiled: checksum,
            });
        }
        // Under the names the migration recorded, as its reversal of contract would run.
        self.pin_names(plan, Phase::Contract, Direction::Reverse, &state)?;
        let mut reports = Vec::new();
        for (index, step) in plan.purge.iter().enumerate() {
            let context = StepContext {
                plan,
                phase: Phase::Contract,
                index,
                step,
                state: &self.state,
            };
            reports.push(executors::run(&mut self.session, &context)?);
        }
        // The steps counted themselves in the state row; contract stays what completed last.
        store::finish(
            self.session.client(),
            &self.state,
            &plan.id,
            Phase::Contract,
            Direction::Forward,
        )?;
        Ok(reports)
    }
}
