//! Waiting for streaming replicas: a bulk step writes WAL faster than a busy replica may
//! replay it, and a replica far behind serves stale reads and holds WAL on the primary.

use std::time::{Duration, Instant};

use super::{Session, StepContext};
use crate::error::Result;
use crate::events::Event;

/// A replica, as `pg_stat_replication` shows it.
struct Lagging {
    name: String,
    bytes: u64,
    replay_lag: Option<Duration>,
}

impl Session {
    /// Returns once no streaming replica lags more than the options allow, reporting each
    /// wait as an [`Event::ReplicaLag`]. Without the privilege to read replicas' positions
    /// (`pg_read_all_stats`), they show as NULL and are not waited for.
    pub(crate) fn wait_for_replicas(&mut self, context: &StepContext) -> Result<()> {
        let Some(limit) = self.options.replica_lag else {
            return Ok(());
        };
        let started = Instant::now();
        loop {
            let over = |replica: &Lagging| {
                replica.bytes > limit.max_bytes
                    || replica.replay_lag.is_some_and(|lag| lag > limit.max_replay_lag)
            };
            let Some(lagging) = self.replicas(context)?.into_iter().find(over) else {
                return Ok(());
            };
            self.emit(Event::ReplicaLag {
                migration: &context.plan.id,
                step: context.step,
                replica: &lagging.name,
                bytes: lagging.bytes,
                replay_lag: lagging.replay_lag,
                waited: started.elapsed(),
            });
            std::thread::sleep(limit.poll);
        }
    }

    /// The streaming replicas, furthest behind first.
    fn replicas(&mut self, context: &StepContext) -> Result<Vec<Lagging>> {
        // A server in recovery has no WAL position of its own to compare with; zdm cannot
        // write there anyway. The lag counts from the insert position, not the write
        // position: a batch committed with synchronous_commit off may sit in WAL buffers for
        // a while, and the replica owes that WAL as much as any.
        let rows = self
            .client
            .query(
                "SELECT coalesce(nullif(application_name, ''), client_addr::text, pid::text), \
                        greatest(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), replay_lsn), 0)::bigint, \
                        extract(epoch FROM replay_lag)::float8 \
                 FROM pg_stat_replication \
                 WHERE replay_lsn IS NOT NULL AND NOT pg_is_in_recovery() \
                 ORDER BY 2 DESC, 3 DESC NULLS LAST",
                &[],
            )
            .map_err(|error| context.failed(error))?;
        Ok(rows
            .iter()
            .map(|row| Lagging {
                name: row.get(0),
                bytes: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                replay_lag: row
                    .get::<_, Option<f64>>(2)
                    .map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
            })
            .collect())
    }
}
