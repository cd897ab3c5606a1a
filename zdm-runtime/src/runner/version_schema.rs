//! `drop-version-schema`: a completed migration's version schema stays for the version it
//! serves until a later migration of the same tables completes; the operator drops it
//! earlier once no version has it on its search path.

use super::Runner;
use crate::error::{Error, Result};
use crate::store::{self, MigrationState};
use crate::versions;
use zdm_plan::{Migration, Phase, Plan};

impl Runner {
    /// Drops the migration's version schema and its views, which must have completed
    /// contract (before it, the new version reads and writes through them); returns whether
    /// there were views to drop. Safe to run again. Reverting the contract afterwards works,
    /// without a version schema: every version then addresses the tables.
    pub fn drop_version_schema(&mut self, migration: &dyn Migration) -> Result<bool> {
        let plan = migration.plan();
        self.after_contract(
            plan,
            "drop the version schema",
            "the new version reads and writes through it until contract has completed",
        )?;
        versions::drop_version_schema(self.session.client(), &self.state, plan)
    }

    /// The migration's state, once its contract has completed and nothing runs; otherwise
    /// `action` is refused for `reason`. What runs after contract gives up a reversal, so it
    /// waits for the contract to be done.
    pub(super) fn after_contract(
        &mut self,
        plan: &Plan,
        action: &str,
        reason: &str,
    ) -> Result<MigrationState> {
        let state = store::load(self.session.client(), &self.state, &plan.id)?;
        if state.completed != Some(Phase::Contract) || state.running.is_some() {
            return Err(Error::PhaseOrder {
                migration: plan.id.to_string(),
                action: action.to_owned(),
                reason: reason.to_owned(),
            });
        }
        Ok(state)
    }
}
