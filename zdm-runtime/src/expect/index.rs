//! Concurrent index builds: the drift check that compares an index already in place with
//! the declared one, and the progress of a running build as PostgreSQL reports it.

use std::fmt;

use postgres::Client;

use crate::error::{Error, Result};
use crate::statement::ExecuteOne;
use zdm_plan::sql::quote_ident;
use zdm_plan::Plan;

/// Everything that makes two indexes of one table interchangeable, as one line of text:
/// uniqueness, access method, key and INCLUDE columns (names or expressions as the server
/// deparses them), operator classes, ordering options, collations, predicate and NULL
/// handling. Names and storage parameters are left out.
const SHAPE: &str = "\
SELECT concat_ws(' | ', i.indisunique, am.amname, i.indnkeyatts, \
    array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) AS k ORDER BY k)::text, \
    array(SELECT o.opcname FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS u(oid, n) \
          JOIN pg_opclass o ON o.oid = u.oid ORDER BY u.n)::text, \
    i.indoption::text, i.indcollation::text, \
    coalesce(pg_get_expr(i.indpred, i.indrelid, true), ''), \
    coalesce(to_jsonb(i) ->> 'indnullsnotdistinct', 'false')) \
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam \
WHERE i.indexrelid = $1::text::regclass";

/// Checks that `index` is absent, or an index on `table` built as declared. A valid one
/// means the build already ran (the runner then reports the step as already done); an
/// INVALID one is what a failed or killed build leaves, which the runner drops and
/// rebuilds. Anything else of that name is drift, reported with its definition.
///
/// The declared definition is compared by building it on an empty temporary copy of the
/// table's columns inside a transaction that is rolled back, so the server itself says
/// how it reads the declaration (casts, parentheses, default operator classes) and
/// nothing else changes. That takes only `ACCESS SHARE` on the table.
pub(crate) fn check_absent_or_same(
    client: &mut Client,
    plan: &Plan,
    table: &str,
    index: &str,
    unique: bool,
    definition: &str,
) -> Result<()> {
    let index_q = index;
    let unique_sql = if unique { "UNIQUE " } else { "" };
    let drift = |found: String| {
        Err(Error::Drift {
            migration: plan.id.to_string(),
            expected: format!(
                "no relation named {index_q}, or {} on {table} {definition}",
                if unique { "a UNIQUE index" } else { "an index" }
            ),
            found,
        })
    };
    let row = client
        .query_opt(
            "SELECT c.relkind::text, i.indrelid = to_regclass($2), i.indrelid::regclass::text, \
                    coalesce(i.indisvalid, false), \
                    CASE WHEN i.indexrelid IS NOT NULL THEN pg_get_indexdef(i.indexrelid) END \
             FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.oid = to_regclass($1)",
            &[&index_q, &table],
        )
        .map_err(Error::Catalog)?;
    let Some(row) = row else {
        return Ok(());
    };
    let kind: String = row.get(0);
    if kind != "i" {
        return drift(format!("a {} of that name", relation_kind(&kind)));
    }
    if !row.get::<_, bool>(1) {
        return drift(format!(
            "an index of that name on {}: {}",
            row.get::<_, String>(2),
            row.get::<_, String>(4)
        ));
    }
    let valid: bool = row.get(3);
    let existing: String = client
        .query_one(SHAPE, &[&index_q])
        .map_err(Error::Catalog)?
        .get(0);
    let declared = match declared_shape(client, table, unique_sql, definition) {
        Ok(shape) => shape,
        Err(error) if Error::is_lock_timeout(&error) => return Err(Error::Catalog(error)),
        Err(error) => {
            return drift(format!(
                "an index of that name, and the declared definition does not build on {table}: {}",
                crate::error::describe(&error)
            ))
        }
    };
    if existing == declared {
        return Ok(());
    }
    drift(format!(
        "an index of that name defined differently{}: {}; drop or rename it, or give the \
         declaration another `name`",
        if valid { "" } else { " (INVALID)" },
        row.get::<_, String>(4)
    ))
}

/// The shape of the declared index, built on an empty temporary copy of the table.
fn declared_shape(
    client: &mut Client,
    table: &str,
    unique_sql: &str,
    definition: &str,
) -> Result<String, postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.execute_one("SET LOCAL lock_timeout = '5s'")?;
    transaction.execute_one(&format!(
        "CREATE TEMPORARY TABLE zdm_index_probe (LIKE {table}) ON COMMIT DROP"
    ))?;
    transaction.execute_one(&format!(
        "CREATE {unique_sql}INDEX zdm_index_probe_idx ON pg_temp.zdm_index_probe {definition}"
    ))?;
    let shape = transaction
        .query_one(SHAPE, &[&"pg_temp.zdm_index_probe_idx"])?
        .get(0);
    transaction.rollback()?;
    Ok(shape)
}

pub(crate) fn relation_kind(relkind: &str) -> &'static str {
    match relkind {
        "r" | "p" => "table",
        "v" => "view",
        "m" => "materialized view",
        "S" => "sequence",
        "f" => "foreign table",
        "c" => "composite type",
        "I" => "partitioned index",
        _ => "relation",
    }
}

/// One `CREATE INDEX` or `REINDEX` in progress, from `pg_stat_progress_create_index`.
///
/// The server fills the view only for builds of the current database and, for a role
/// without `pg_read_all_stats`, only for its own sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexBuildProgress {
    /// The backend running the build.
    pub pid: i32,
    /// The table, as `regclass` prints it.
    pub table: String,
    /// The index's name.
    pub index: String,
    /// `CREATE INDEX CONCURRENTLY`, `REINDEX`, …
    pub command: String,
    /// The phase as the server names it: `waiting for writers before build`,
    /// `building index: scanning table`, `index validation: scanning table`, …
    pub phase: String,
    /// Transactions to wait for in a waiting phase, and how many have ended.
    pub lockers_total: i64,
    pub lockers_done: i64,
    /// The transaction's backend waited for now, if any.
    pub current_locker_pid: Option<i64>,
    /// Blocks of the current phase, when it scans.
    pub blocks_total: i64,
    pub blocks_done: i64,
    /// Tuples of the current phase, when it counts them.
    pub tuples_total: i64,
    pub tuples_done: i64,
}

impl IndexBuildProgress {
    /// How far the current phase is, from 0 to 1, by blocks, else tuples, else lockers;
    /// `None` when the phase reports no totals.
    pub fn fraction(&self) -> Option<f64> {
        [
            (self.blocks_done, self.blocks_total),
            (self.tuples_done, self.tuples_total),
            (self.lockers_done, self.lockers_total),
        ]
        .into_iter()
        .find(|(_, total)| *total > 0)
        .map(|(done, total)| (done as f64 / total as f64).clamp(0.0, 1.0))
    }
}

impl fmt::Display for IndexBuildProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {} (pid {}): {}",
            self.command,
            quote_ident(&self.index),
            self.table,
            self.pid,
            self.phase
        )?;
        if self.blocks_total > 0 {
            write!(f, ", {} of {} blocks", self.blocks_done, self.blocks_total)?;
        } else if self.tuples_total > 0 {
            write!(f, ", {} of {} tuples", self.tuples_done, self.tuples_total)?;
        } else if self.lockers_total > 0 {
            write!(
                f,
                ", {} of {} transactions ended",
                self.lockers_done, self.lockers_total
            )?;
        }
        if let Some(fraction) = self.fraction() {
            write!(f, " ({:.0}%)", fraction * 100.0)?;
        }
        if let Some(pid) = self.current_locker_pid {
            write!(f, "; waiting for the transaction of pid {pid}")?;
        }
        Ok(())
    }
}

/// The progress of the build of `index` (as SQL names it, as in
/// [`Action::CreateIndexConcurrently`](crate::Action::CreateIndexConcurrently)) if one is
/// running in the current database. Call it from a connection of its own: the runner's
/// connection is busy with the build.
pub fn index_build_progress(client: &mut Client, index: &str) -> Result<Option<IndexBuildProgress>> {
    let row = client
        .query_opt(
            "SELECT p.pid, p.relid::regclass::text, c.relname::text, p.command, p.phase, \
                    p.lockers_total, p.lockers_done, nullif(p.current_locker_pid, 0), \
                    p.blocks_total, p.blocks_done, p.tuples_total, p.tuples_done \
             FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.index_relid \
             WHERE p.index_relid = to_regclass($1) \
               AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&index],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| IndexBuildProgress {
        pid: row.get(0),
        table: row.get(1),
        index: row.get(2),
        command: row.get(3),
        phase: row.get(4),
        lockers_total: row.get(5),
        lockers_done: row.get(6),
        current_locker_pid: row.get(7),
        blocks_total: row.get(8),
        blocks_done: row.get(9),
        tuples_total: row.get(10),
        tuples_done: row.get(11),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> IndexBuildProgress {
        IndexBuildProgress {
            pid: 10,
            table: "orders".to_owned(),
            index: "orders_customer_id_idx".to_owned(),
            command: "CREATE INDEX CONCURRENTLY".to_owned(),
            phase: "building index: scanning table".to_owned(),
            lockers_total: 0,
            lockers_done: 0,
            current_locker_pid: None,
            blocks_total: 400,
            blocks_done: 100,
            tuples_total: 0,
            tuples_done: 0,
        }
    }

    #[test]
    fn progress_reads_blocks_then_tuples_then_lockers() {
        let scanning = progress();
        assert_eq!(scanning.fraction(), Some(0.25));
        assert_eq!(
            scanning.to_string(),
            "CREATE INDEX CONCURRENTLY \"orders_customer_id_idx\" on orders (pid 10): \
             building index: scanning table, 100 of 400 blocks (25%)"
        );
        let waiting = IndexBuildProgress {
            phase: "waiting for writers before build".to_owned(),
            blocks_total: 0,
            blocks_done: 0,
            lockers_total: 2,
            lockers_done: 1,
            current_locker_pid: Some(77),
            ..progress()
        };
        assert_eq!(waiting.fraction(), Some(0.5));
        assert!(waiting
            .to_string()
            .ends_with("1 of 2 transactions ended (50%); waiting for the transaction of pid 77"));
        let starting = IndexBuildProgress {
            blocks_total: 0,
            blocks_done: 0,
            ..progress()
        };
        assert_eq!(starting.fraction(), None);
    }
}
