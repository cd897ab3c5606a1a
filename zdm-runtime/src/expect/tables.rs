//! Whether a table or a column the plan names is there, or not there, as it expects.

use postgres::Client;

use super::drift;
use crate::error::{Error, Result};
use zdm_plan::Plan;

/// What `table` names, in words (`table`, `view`, …), if anything.
fn relation_kind(client: &mut Client, table: &str) -> Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' \
             WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' \
             ELSE 'relation' END FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&table],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| row.get(0)))
}

pub(super) fn table_exists(client: &mut Client, plan: &Plan, table: &str) -> Result<()> {
    match relation_kind(client, table)?.as_deref() {
        Some("table") => Ok(()),
        Some(kind) => drift(plan, format!("table {table}"), format!("a {kind}")),
        None => drift(plan, format!("table {table}"), "no such table".to_owned()),
    }
}

pub(super) fn table_absent(client: &mut Client, plan: &Plan, table: &str) -> Result<()> {
    match relation_kind(client, table)? {
        None => Ok(()),
        Some(kind) => drift(
            plan,
            format!("no relation named {table}"),
            format!("a {kind} of that name"),
        ),
    }
}

pub(super) fn column_exists(
    client: &mut Client,
    plan: &Plan,
    table: &str,
    column: &str,
    ty: Option<&str>,
) -> Result<()> {
    if relation_kind(client, table)?.is_none() {
        return drift(plan, format!("table {table}"), "no such table".to_owned());
    }
    let row = client
        .query_opt(
            "SELECT format_type(a.atttypid, a.atttypmod), \
                    $3::text IS NULL OR a.atttypid = to_regtype($3) \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attname = $2 \
               AND a.attnum > 0 AND NOT a.attisdropped",
            &[&table, &column, &ty],
        )
        .map_err(Error::Catalog)?;
    let expected = match ty {
        Some(ty) => format!("column {table}.\"{column}\" of type {ty}"),
        None => format!("column {table}.\"{column}\""),
    };
    match row {
        None => drift(plan, expected, "no such column".to_owned()),
        Some(row) if !row.get::<_, bool>(1) => {
            drift(plan, expected, format!("type {}", row.get::<_, String>(0)))
        }
        Some(_) => Ok(()),
    }
}

pub(super) fn column_absent(client: &mut Client, plan: &Plan, table: &str, column: &str) -> Result<()> {
    let row = client
        .query_opt(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attname = $2 \
               AND a.attnum > 0 AND NOT a.attisdropped",
            &[&table, &column],
        )
        .map_err(Error::Catalog)?;
    match row {
        None => Ok(()),
        Some(row) => drift(
            plan,
            format!("no column \"{column}\" in {table}"),
            format!("that column already there, of type {}", row.get::<_, String>(0)),
        ),
    }
}
