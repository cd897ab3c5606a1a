//! Earlier version schemas over the tables a migration changes: they serve the version that
//! is old for it, so its contract drops their views (the deploy order has stopped that
//! version, and a dropped column would otherwise be refused by them) and its reversal puts
//! them back for the old version, which may run again.

use postgres::{Client, Transaction};

use super::{rebuild, recorded, restore_owner_and_grants, step_failed, upgrade_version_columns};
use crate::error::{Error, Result};
use crate::statement::ExecuteOne;
use crate::store::StateSchema;
use zdm_plan::names;
use zdm_plan::sql::quote_ident;
use zdm_plan::Plan;

/// Drops the views other migrations' version schemas built before `plan`'s have over the
/// tables `plan` presents, and each schema left without views, keeping in their record what
/// re-creates them. A view built after `plan`'s serves a newer version, which runs on.
pub(crate) fn retire_earlier(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<()> {
    if plan.presents.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let failed = |source| step_failed(plan, &schema, source);
    let mut transaction = client.transaction().map_err(Error::State)?;
    if !recorded(&mut transaction, state).map_err(failed)? {
        return Ok(());
    }
    // A record made by an expand of an earlier release gets the columns written below.
    upgrade_version_columns(&mut transaction, state).map_err(failed)?;
    let tables: Vec<&str> = plan.presents.iter().map(|presented| &*presented.table).collect();
    let views: Vec<(String, String)> = transaction
        .query(
            &state.sql(
                "UPDATE {state}.version_columns v SET retired_by = $1, attname = a.attname, \
                     owner = pg_get_userbyid(c.relowner), acl = c.relacl::text, \
                     source = (SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) \
                               FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                               WHERE t.oid = v.relation) \
                 FROM pg_attribute a, pg_namespace n, pg_class c \
                 WHERE v.migration <> $1 AND v.retired_by IS NULL \
                   AND v.created < coalesce((SELECT min(created) FROM {state}.version_columns \
                                             WHERE migration = $1), 'infinity') \
                   AND v.relation IN (SELECT to_regclass(t)::oid FROM unnest($2::text[]) AS t) \
                   AND a.attrelid = v.relation AND a.attnum = v.attnum \
                   AND n.nspname = v.schema AND c.relnamespace = n.oid AND c.relname = v.view \
                 RETURNING v.schema, v.view",
            ),
            &[&&*plan.id, &tables],
        )
        .map_err(failed)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut views = views;
    views.sort();
    views.dedup();
    for (schema, view) in &views {
        transaction
            .execute_one(&format!(
                "DROP VIEW IF EXISTS {}.{}",
                quote_ident(schema),
                quote_ident(view)
            ))
            .map_err(failed)?;
        let left: bool = transaction
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1)",
                &[schema],
            )
            .map_err(failed)?
            .get(0);
        if !left {
            transaction
                .execute_one(&format!("DROP SCHEMA IF EXISTS {}", quote_ident(schema)))
                .map_err(failed)?;
        }
    }
    transaction.commit().map_err(failed)
}

/// Re-creates the views `plan`'s contract retired, by table and column name (a reversal
/// re-adds a column under its name, with a new attribute number, and split_table's rebuilds
/// the table under its name, with a new object id), with their owner and grants.
pub(crate) fn restore_retired(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<()> {
    if plan.presents.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let failed = |source| step_failed(plan, &schema, source);
    let mut transaction = client.transaction().map_err(Error::State)?;
    if !recorded(&mut transaction, state).map_err(failed)? {
        return Ok(());
    }
    let views: Vec<(String, String, String, Option<String>)> = transaction
        .query(
            &state.sql(
                "SELECT DISTINCT schema, view, owner, acl FROM {state}.version_columns WHERE retired_by = $1",
            ),
            &[&&*plan.id],
        )
        .map_err(failed)?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    for (schema, view, owner, acl) in &views {
        restore_view(&mut transaction, state, plan, (schema, view, owner, acl.as_ref())).map_err(failed)?;
    }
    transaction.commit().map_err(failed)
}

fn restore_view(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    plan: &Plan,
    (schema, view, owner, acl): (&str, &str, &str, Option<&String>),
) -> Result<(), postgres::Error> {
    transaction.execute(
        &state.sql(
            "UPDATE {state}.version_columns v SET relation = to_regclass(v.source)::oid \
             WHERE v.retired_by = $1 AND v.schema = $2 AND v.view = $3 AND to_regclass(v.source) IS NOT NULL",
        ),
        &[&&*plan.id, &schema, &view],
    )?;
    transaction.execute(
        &state.sql(
            "UPDATE {state}.version_columns v SET attnum = a.attnum, retired_by = NULL \
             FROM pg_attribute a \
             WHERE v.retired_by = $1 AND v.schema = $2 AND v.view = $3 \
               AND a.attrelid = v.relation AND a.attname = v.attname AND NOT a.attisdropped",
        ),
        &[&&*plan.id, &schema, &view],
    )?;
    let exists: bool = transaction
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )?
        .get(0);
    let schema_q = quote_ident(schema);
    if !exists {
        transaction.execute_one(&format!("CREATE SCHEMA {schema_q}"))?;
        transaction.execute_one(&format!("GRANT USAGE ON SCHEMA {schema_q} TO PUBLIC"))?;
    }
    rebuild(transaction, state, schema, view)?;
    let view_q = format!("{schema_q}.{}", quote_ident(view));
    restore_owner_and_grants(transaction, &view_q, owner, acl)
}
