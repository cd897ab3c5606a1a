//! `drop-version-schema`: a completed migration's version schema stays for the version it
//! serves until a later migration of the same tables completes; the operator drops it
//! earlier once no version has it on its search path.

use super::Runner;
use crate::error::{Error, Result};
use crate::store;
use crate::versions;
use zdm_plan::{Migration, Phase};

impl Runner {
    /// Drops the migration's version schema and its views, which must have completed
    /// contract (before it, the new version reads and writes through them); returns whether
    /// there were views to drop. Safe to run again. Reverting the contract afterwards works,
    /// without a version schema: every version then addresses the tables.
    pub fn drop_version_schema(&mut self, migration: &dyn Migration) -> Result<bool> {
        let plan = migration.plan();
        let state = store::load(self.session.client(), &self.state, &plan.id)?;
        if state.completed != Some(Phase::Contract) || state.running.is_some() {
            return Err(Error::PhaseOrder {
                migration: plan.id.to_string(),
                action: "drop the version schema".to_owned(),
                reason: "the new version reads and writes through it until contract has completed".to_owned(),
            });
        }
        versions::drop_version_schema(self.session.client(), &self.state, plan)
    }
}
