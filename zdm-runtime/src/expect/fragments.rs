//! What the SQL fragments of a declaration read and call, checked against the live
//! catalog before any change: the macro records the names its parse found, and only the
//! database knows which columns are generated and which functions are volatile.

use postgres::Client;

use crate::error::{Error, Result};
use zdm_plan::sql::quote_ident;
use zdm_plan::Plan;

/// The fragment given as `key`, with the names its parse found.
pub(super) struct Fragment<'a> {
    pub(super) table: &'a str,
    pub(super) key: &'a str,
    pub(super) columns: Vec<&'a str>,
    pub(super) functions: Vec<&'a str>,
}

pub(super) fn check(client: &mut Client, plan: &Plan, fragment: &Fragment<'_>) -> Result<()> {
    if let Some(column) = generated_column(client, fragment)? {
        return refuse(plan, generated_reason(fragment, &column));
    }
    if let Some(function) = volatile_function(client, fragment)? {
        return refuse(plan, volatile_reason(fragment.key, &function));
    }
    Ok(())
}

fn refuse(plan: &Plan, reason: String) -> Result<()> {
    Err(Error::Refused {
        migration: plan.id.to_string(),
        before: "any change".to_owned(),
        reason,
    })
}

/// A generated column of the table the fragment reads, the first in the table's order.
fn generated_column(client: &mut Client, fragment: &Fragment<'_>) -> Result<Option<String>> {
    if fragment.columns.is_empty() {
        return Ok(None);
    }
    let row = client
        .query_opt(
            "SELECT a.attname::text FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attname = ANY ($2::text[]) \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '' \
             ORDER BY a.attnum LIMIT 1",
            &[&fragment.table, &fragment.columns],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| row.get(0)))
}

/// Why reading a generated column is refused: PostgreSQL computes generated columns after
/// BEFORE triggers, and its manual forbids reading them there, so the sync trigger would
/// not see the value the backfill sees for the same row.
fn generated_reason(fragment: &Fragment<'_>, column: &str) -> String {
    let Fragment { table, key, .. } = fragment;
    let column = quote_ident(column);
    format!(
        "`{key}` reads {table}.{column}, a generated column: the sync trigger computes `{key}` for each row \
         written, before PostgreSQL computes that row's generated columns, so it cannot see the row's value \
         of {column}; write `{key}` over the columns {column} is generated from"
    )
}

/// The first function the fragment calls that resolves to a volatile one outside
/// `pg_catalog` (any overload), as `regprocedure` prints it. An unqualified name that
/// `pg_catalog` has is the built-in, which the search path finds first; a name that
/// resolves to nothing is left for the server to report.
fn volatile_function(client: &mut Client, fragment: &Fragment<'_>) -> Result<Option<String>> {
    if fragment.functions.is_empty() {
        return Ok(None);
    }
    let row = client
        .query_opt(VOLATILE_FUNCTION, &[&fragment.functions])
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| row.get(0)))
}

const VOLATILE_FUNCTION: &str = "WITH given AS ( \
     SELECT ord, parts[cardinality(parts)] AS name, \
            CASE WHEN cardinality(parts) > 1 THEN parts[cardinality(parts) - 1] END AS schema \
     FROM unnest($1::text[]) WITH ORDINALITY AS f(written, ord), LATERAL parse_ident(f.written) AS parts) \
 SELECT p.oid::regprocedure::text FROM given g \
 JOIN pg_proc p ON p.proname = g.name \
 JOIN pg_namespace n ON n.oid = p.pronamespace \
 WHERE p.provolatile = 'v' AND n.nspname <> 'pg_catalog' \
   AND CASE WHEN g.schema IS NOT NULL THEN n.nspname = g.schema \
       ELSE n.nspname = ANY (current_schemas(false)) \
            AND NOT EXISTS (SELECT 1 FROM pg_proc b WHERE b.proname = g.name \
                              AND b.pronamespace = 'pg_catalog'::regnamespace) END \
 ORDER BY g.ord, 1 LIMIT 1";

/// Why a volatile function of the user's is refused in a fragment the sync trigger runs.
fn volatile_reason(key: &str, function: &str) -> String {
    format!(
        "`{key}` calls {function}, a volatile function of your own: zdm cannot tell what it does, and the sync \
         trigger runs it again on every write of a row, so each write and the backfill may give the row a \
         different value; declare the function STABLE or IMMUTABLE if it is, or compute the value without it"
    )
}
