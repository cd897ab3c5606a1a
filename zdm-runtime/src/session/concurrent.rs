//! Steps that cannot run in a transaction: concurrent index builds and drops.

use super::{Session, StepContext};
use crate::error::{Error, Result};
use crate::statement::ExecuteOne;

impl Session {
    pub(crate) fn outside_transaction(&mut self, context: &StepContext, sql: &str) -> Result<u32> {
        // Concurrent index builds and drops wait for every older transaction to end; that
        // wait blocks no application query, so it gets the whole budget at once instead
        // of short attempts that would throw away a finished table scan.
        let wait = self.options.lock_budget;
        let since: String = self
            .client
            .query_one("SELECT clock_timestamp()::text", &[])
            .map_err(Error::Session)?
            .get(0);
        self.concurrent_since = Some(since);
        let outcome = self.retrying(context, Some(sql), |client, _| {
            client.execute_one(&format!("SET lock_timeout = {}", wait.as_millis().max(1)))?;
            client.execute_one("SET statement_timeout = 0")?;
            let outcome = client.execute_one(sql);
            client.execute_one("RESET lock_timeout")?;
            client.execute_one("RESET statement_timeout")?;
            outcome
        });
        self.concurrent_since = None;
        outcome
    }

    /// Builds an index concurrently; returns whether a valid index of that name was
    /// already there. `index` is written as SQL names it (quoted, maybe qualified).
    pub(crate) fn create_index_concurrently(
        &mut self,
        context: &StepContext,
        index: &str,
        sql: &str,
    ) -> Result<bool> {
        let quoted = index;
        let valid: Option<bool> = self
            .client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                &[&quoted],
            )
            .map_err(|error| context.failed(error))?
            .map(|row| row.get(0));
        match valid {
            Some(true) => return Ok(true),
            Some(false) => {
                // A build that failed or was killed leaves an INVALID index that is still
                // maintained on every write; it must go before the retry.
                self.outside_transaction(context, &format!("DROP INDEX CONCURRENTLY IF EXISTS {quoted}"))?;
            }
            None => {}
        }
        let outcome = self.outside_transaction(context, sql);
        if outcome.is_err() {
            let _ = self
                .client
                .execute_one(&format!("DROP INDEX CONCURRENTLY IF EXISTS {quoted}"));
        }
        outcome.map(|_| false)
    }
}
