//! Re-pointing version views in the transaction of a physical change: a swap that drops
//! the column a view shows, a type changed in place, a reverted contract.

use postgres::{Client, Transaction};

use super::{recorded, restore_owner_and_grants, step_failed, view_options};
use crate::error::{Error, Result};
use crate::statement::ExecuteOne;
use crate::store::StateSchema;
use zdm_plan::names;
use zdm_plan::sql::quote_ident;
use zdm_plan::Plan;

/// Shows `replacement` wherever a version view of `table` shows `column`, before a swap
/// drops `column`, in the swap's own transaction: the views keep their column names, types
/// and order (`CREATE OR REPLACE VIEW` allows nothing else), so the new version's prepared
/// statements keep their result types, and there is no moment the view reads a column
/// that is gone.
pub(crate) fn repoint(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    table: &str,
    column: &str,
    replacement: &str,
) -> Result<(), postgres::Error> {
    if !recorded(transaction, state)? {
        return Ok(());
    }
    let views: Vec<(String, String)> = transaction
        .query(
            &state.sql(
                "UPDATE {state}.version_columns v SET attnum = n.attnum \
                 FROM pg_attribute o, pg_attribute n \
                 WHERE v.relation = to_regclass($1) AND v.retired_by IS NULL AND o.attrelid = v.relation \
                   AND o.attname = $2 \
                   AND v.attnum = o.attnum AND n.attrelid = v.relation AND n.attname = $3 \
                 RETURNING v.schema, v.view",
            ),
            &[&table, &column, &replacement],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut views = views;
    views.sort();
    views.dedup();
    for (schema, view) in views {
        rebuild(transaction, state, &schema, &view)?;
    }
    Ok(())
}

/// Re-creates one recorded view from its record, with the options it has.
pub(super) fn rebuild(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    schema: &str,
    view: &str,
) -> Result<(), postgres::Error> {
    let rows = transaction.query(
        &state.sql(
            "SELECT v.name, a.attname::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
             FROM {state}.version_columns v \
             JOIN pg_attribute a ON a.attrelid = v.relation AND a.attnum = v.attnum \
             JOIN pg_class c ON c.oid = v.relation JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE v.schema = $1 AND v.view = $2 AND v.retired_by IS NULL ORDER BY v.position",
        ),
        &[&schema, &view],
    )?;
    let Some(first) = rows.first() else { return Ok(()) };
    let table: String = first.get(2);
    let select: Vec<String> = rows
        .iter()
        .map(|row| format!("{} AS {}", quote_ident(row.get(1)), quote_ident(row.get(0))))
        .collect();
    let invoker: bool = transaction
        .query_one("SELECT current_setting('server_version_num')::int >= 150000", &[])?
        .get(0);
    transaction.execute_one(&format!(
        "CREATE OR REPLACE VIEW {}.{}{} AS SELECT {} FROM {table}",
        quote_ident(schema),
        quote_ident(view),
        view_options(invoker),
        select.join(", ")
    ))
}

/// Runs `work` (a column's type changed in place) with every recorded version view over
/// `table` dropped before and re-created after it, with the owner and grants it had.
pub(crate) fn around_type_change(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    table: &str,
    work: impl FnOnce(&mut Transaction<'_>) -> Result<(), postgres::Error>,
) -> Result<(), postgres::Error> {
    if !recorded(transaction, state)? {
        return work(transaction);
    }
    let views: Vec<(String, String, String, Option<String>)> = transaction
        .query(
            &state.sql(
                "SELECT DISTINCT v.schema, v.view, pg_get_userbyid(c.relowner)::text, c.relacl::text \
                 FROM {state}.version_columns v \
                 JOIN pg_namespace n ON n.nspname = v.schema \
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = v.view \
                 WHERE v.relation = to_regclass($1) AND v.retired_by IS NULL",
            ),
            &[&table],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    for (schema, view, _, _) in &views {
        transaction.execute_one(&format!(
            "DROP VIEW {}.{}",
            quote_ident(schema),
            quote_ident(view)
        ))?;
    }
    work(transaction)?;
    for (schema, view, owner, acl) in &views {
        rebuild(transaction, state, schema, view)?;
        let view_q = format!("{}.{}", quote_ident(schema), quote_ident(view));
        restore_owner_and_grants(transaction, &view_q, owner, acl.as_ref())?;
    }
    Ok(())
}

/// Shows each presented column from its source again once the contract is reverted (the
/// swap showed the column that replaced it; the reversal has refilled the source), so the
/// views are what expand made. A no-op where the record already names the source.
pub(crate) fn restore_sources(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<()> {
    if plan.presents.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let failed = |source| step_failed(plan, &schema, source);
    let mut transaction = client.transaction().map_err(Error::State)?;
    for presented in plan.presents.iter() {
        for column in presented.columns.iter() {
            let shown: Option<String> = transaction
                .query_opt(
                    &state.sql(
                        "SELECT a.attname::text FROM {state}.version_columns v \
                         JOIN pg_attribute a ON a.attrelid = v.relation AND a.attnum = v.attnum \
                         WHERE v.migration = $1 AND v.relation = to_regclass($2) AND v.name = $3",
                    ),
                    &[&&*plan.id, &&*presented.table, &&*column.name],
                )
                .map_err(failed)?
                .map(|row| row.get(0));
            if let Some(shown) = shown.filter(|shown| *shown != *column.source) {
                repoint(&mut transaction, state, &presented.table, &shown, &column.source).map_err(failed)?;
            }
        }
    }
    transaction.commit().map_err(failed)
}

/// Whether a view of `migration`'s version schema shows `column` of `table`.
pub(crate) fn shows(
    client: &mut Client,
    state: &StateSchema,
    migration: &str,
    table: &str,
    column: &str,
) -> Result<bool, postgres::Error> {
    let recorded: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("version_columns")],
        )?
        .get(0);
    if !recorded {
        return Ok(false);
    }
    Ok(client
        .query_one(
            &state.sql(
                "SELECT EXISTS (SELECT 1 FROM {state}.version_columns v \
                 JOIN pg_attribute a ON a.attrelid = v.relation AND a.attnum = v.attnum \
                 WHERE v.migration = $1 AND v.relation = to_regclass($2) AND a.attname = $3 \
                   AND v.retired_by IS NULL)",
            ),
            &[&migration, &table, &column],
        )?
        .get(0))
}
