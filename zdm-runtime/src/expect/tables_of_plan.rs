//! What the tables a plan works on must allow, checked once before expand changes
//! anything: the steps that need it come phases later, and a refusal there would leave
//! expand's column and sync's triggers behind. Each rule is a function saying why it
//! exists; every refusal is reported at once, naming the table.

use std::collections::BTreeSet;

use postgres::Client;

use crate::error::{Error, Result};
use zdm_plan::{Action, CarryWork, Expectation, Plan};

/// The tables a plan's forward steps touch, by what the steps do there.
#[derive(Default)]
struct Uses<'a> {
    /// Paged through by a backfill.
    batched: BTreeSet<&'a str>,
    /// Read row by row: backfills, data checks, copies.
    scanned: BTreeSet<&'a str>,
    /// `(table, index)` built with `CREATE INDEX CONCURRENTLY`.
    indexed: BTreeSet<(&'a str, &'a str)>,
}

fn uses(plan: &Plan) -> Uses<'_> {
    let mut uses = Uses::default();
    for step in plan.phases.iter().flat_map(|phase| phase.forward.iter()) {
        match &step.action {
            Action::Backfill(backfill) => {
                uses.batched.insert(&backfill.table);
                uses.scanned.insert(&backfill.table);
            }
            Action::Carry(carry) => match carry.work {
                CarryWork::Backfill { .. } => {
                    uses.batched.insert(&carry.table);
                    uses.scanned.insert(&carry.table);
                }
                CarryWork::CheckNulls(_) | CarryWork::CheckConvertible { .. } => {
                    uses.scanned.insert(&carry.table);
                }
                _ => {}
            },
            // The step names the source as SQL does (quoted, qualified when declared);
            // `Split::source` is the bare name.
            Action::Split(_) | Action::Check(_) => {
                if let Some(table) = &step.table {
                    uses.scanned.insert(table);
                }
            }
            // The check for orphans reads the referenced table too.
            Action::Expect(Expectation::ForeignKeyTarget { references, .. }) => {
                uses.scanned.insert(references);
            }
            Action::CreateIndexConcurrently { index, .. } => {
                if let Some(table) = &step.table {
                    uses.indexed.insert((table, index));
                }
            }
            _ => {}
        }
    }
    uses
}

/// Refuses, before any change, a plan whose tables do not allow what its later steps do.
/// A table that does not exist is left to the plan's own expectations to report.
pub(crate) fn check(client: &mut Client, plan: &Plan, skip_user_triggers: bool) -> Result<()> {
    let uses = uses(plan);
    let mut refusals = Vec::new();
    if skip_user_triggers && !uses.batched.is_empty() {
        refusals.extend(replica_role_refused(client)?);
    }
    for table in &uses.batched {
        refusals.extend(no_batch_key(client, table)?);
    }
    for table in &uses.scanned {
        refusals.extend(row_security(client, table)?);
    }
    for (table, index) in &uses.indexed {
        refusals.extend(partitioned_index(client, table, index)?);
    }
    match refusals.len() {
        0 => Ok(()),
        1 => refuse(plan, refusals.remove(0)),
        _ => {
            let reasons: String = refusals.iter().map(|reason| format!("\n  - {reason}")).collect();
            refuse(
                plan,
                format!("the tables do not allow this change safely:{reasons}"),
            )
        }
    }
}

fn refuse(plan: &Plan, reason: String) -> Result<()> {
    Err(Error::Refused {
        migration: plan.id.to_string(),
        before: "any change".to_owned(),
        reason,
    })
}

/// A backfill pages through the table by a key that orders every row once; without one it
/// could only stop at backfill, after expand and sync had changed the table.
fn no_batch_key(client: &mut Client, table: &str) -> Result<Option<String>> {
    if !exists(client, table)? || !batch_key(client, table).map_err(Error::Catalog)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{table} has no primary key and no unique index over NOT NULL columns, which the backfill pages \
         through the table by; add a primary key, or a unique index (CREATE UNIQUE INDEX CONCURRENTLY) \
         whose columns are all NOT NULL"
    )))
}

/// Policies filter rows silently: a backfill would fill, and a NULL check would count,
/// only the rows they let zdm's role see, and report done. The session runs with
/// `row_security = off`, so a policy added later makes a statement fail instead.
fn row_security(client: &mut Client, table: &str) -> Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT row_security_active(c.oid), \
                    (SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) \
                     FROM pg_policy p WHERE p.polrelid = c.oid) \
             FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&table],
        )
        .map_err(Error::Catalog)?;
    let Some(row) = row else { return Ok(None) };
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let seen = match row.get::<_, Option<String>>(1) {
        Some(names) => format!("only the rows its policies ({names}) let it see"),
        None => "no row (the table has no policy, which hides every row)".to_owned(),
    };
    Ok(Some(format!(
        "row-level security on {table} applies to this role, so a backfill or data check would see {seen} \
         and report done over the rest; run zdm as a role with BYPASSRLS, or as the table's owner with \
         row-level security not forced (ALTER TABLE … NO FORCE ROW LEVEL SECURITY)"
    )))
}

/// PostgreSQL cannot build an index on a partitioned table concurrently; the build would
/// fail after expand had added the column.
fn partitioned_index(client: &mut Client, table: &str, index: &str) -> Result<Option<String>> {
    let partitioned: bool = client
        .query_opt(
            "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .map_err(Error::Catalog)?
        .is_some_and(|row| row.get(0));
    Ok(partitioned.then(|| {
        format!(
            "{table} is partitioned, and PostgreSQL cannot build the index {index} on a partitioned table \
             concurrently; declare the change without the index and build it yourself without blocking \
             writes: CREATE INDEX … ON ONLY {table}, CREATE INDEX CONCURRENTLY on each partition, and \
             ALTER INDEX … ATTACH PARTITION for each"
        )
    }))
}

/// `skip_user_triggers` is a promise about every batch; a role that may not set
/// `session_replication_role` would break it at the first batch, after expand and sync.
fn replica_role_refused(client: &mut Client) -> Result<Option<String>> {
    let mut transaction = client.transaction().map_err(Error::Catalog)?;
    let set = transaction.execute("SET LOCAL session_replication_role = replica", &[]);
    let _ = transaction.rollback();
    match set {
        Ok(_) => Ok(None),
        Err(error) if error.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => Ok(Some(
            "`skip_user_triggers` runs the backfill with session_replication_role = replica, which this role may \
             not set (a superuser may, and from PostgreSQL 15 a role granted SET ON PARAMETER \
             session_replication_role); grant it, or run without `skip_user_triggers`, and the backfill fires \
             the tables' own triggers for every row it writes"
                .to_owned(),
        )),
        Err(error) => Err(Error::Catalog(error)),
    }
}

fn exists(client: &mut Client, table: &str) -> Result<bool> {
    Ok(client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .map_err(Error::Catalog)?
        .get(0))
}

/// The columns a backfill pages `table` by, each with its type as `format_type` prints it:
/// the primary key, or else the narrowest valid, non-partial unique index over plain
/// columns that are all NOT NULL (as pgroll accepts). Empty when there is none.
pub(crate) fn batch_key(client: &mut Client, table: &str) -> Result<Vec<(String, String)>, postgres::Error> {
    let rows = client.query(
        "WITH key AS ( \
             SELECT i.indexrelid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indimmediate \
               AND i.indpred IS NULL AND i.indexprs IS NULL \
               AND NOT EXISTS (SELECT 1 FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) AS k(attnum) \
                               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                               WHERE NOT a.attnotnull) \
             ORDER BY i.indisprimary DESC, i.indnkeyatts, x.relname LIMIT 1) \
         SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
         FROM key JOIN pg_index i ON i.indexrelid = key.indexrelid \
         JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) ON true \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE k.position <= i.indnkeyatts \
         ORDER BY k.position",
        &[&table],
    )?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
