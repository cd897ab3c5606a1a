//! Who holds the locks a step waits for, as the reports and events name them.

use std::time::Duration;

use postgres::Client;

use crate::error::{Blocker, Error, Result};

/// The columns every blocker query selects, in the order [`blockers`] reads them; `a` is
/// `pg_stat_activity`.
const BLOCKER_COLUMNS: &str = "a.pid, coalesce(a.state, ''), \
     coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8, coalesce(a.query, '')";

/// Runs a query selecting [`BLOCKER_COLUMNS`] and then the blocker's mode.
fn blockers(client: &mut Client, sql: &str, parameter: &str) -> Result<Vec<Blocker>> {
    let rows = client.query(sql, &[&parameter]).map_err(Error::Catalog)?;
    Ok(rows
        .iter()
        .map(|row| Blocker {
            pid: row.get(0),
            state: row.get(1),
            transaction_age: Duration::from_secs_f64(row.get::<_, f64>(2).max(0.0)),
            query: row.get(3),
            mode: row.get(4),
        })
        .collect())
}

/// The sessions other than ours holding a granted lock on `table`.
pub(super) fn lock_holders(client: &mut Client, table: &str) -> Result<Vec<Blocker>> {
    let sql = format!(
        "SELECT {BLOCKER_COLUMNS}, l.mode \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.granted AND l.locktype = 'relation' AND l.relation = to_regclass($1) \
           AND l.pid <> pg_backend_pid() \
         ORDER BY a.xact_start"
    );
    blockers(client, &sql, table)
}

/// The sessions of this database whose transaction began before `since`: a concurrent
/// index build or drop waits for each of them to end, whatever table they use.
pub(super) fn older_transactions(client: &mut Client, since: &str) -> Result<Vec<Blocker>> {
    let sql = format!(
        "SELECT {BLOCKER_COLUMNS}, 'a snapshot older than the index build' \
         FROM pg_stat_activity a \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
           AND a.xact_start < $1::text::timestamptz \
         ORDER BY a.xact_start"
    );
    blockers(client, &sql, since)
}
