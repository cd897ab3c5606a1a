//! NOT NULL, CHECK and FOREIGN KEY constraints carried to a column: added NOT VALID,
//! validated without blocking writes, and NOT NULL set over a validated stand-in CHECK so
//! that `SET NOT NULL` scans nothing.

use postgres::{Client, Transaction};

use super::record::{ObjectKind, Outcome, Work};
use crate::error::{Error, Result};
use crate::session::{Session, StepContext};
use crate::statement::ExecuteOne;
use zdm_plan::names;
use zdm_plan::sql::quote_ident;
use zdm_plan::{Carry, CarryTarget};

fn target_column(carry: &'static Carry, target: CarryTarget) -> &'static str {
    match target {
        CarryTarget::New => &carry.new_column,
        CarryTarget::Original => &carry.column,
    }
}

/// The table, the target column and the name of its NOT NULL stand-in.
fn stand_in_of(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<(&'static str, &'static str, String)> {
    let table: &'static str = &work.carry.table;
    let column = target_column(work.carry, target);
    Ok((
        table,
        column,
        not_null_stand_in(session.client(), context, table, column)?,
    ))
}

/// Refuses, before NOT NULL is carried, when the column holds NULLs the original forbade.
pub(super) fn check_nulls(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let table = &carry.table;
    let column = target_column(carry, target);
    if !record.not_null || is_not_null(session.client(), context, table, column)? {
        context.advance(session)?;
        return Ok(Outcome::done(0));
    }
    let column_q = quote_ident(column);
    let count: i64 = session
        .client()
        .query_one(
            format!("SELECT count(*) FROM {table} WHERE {column_q} IS NULL").as_str(),
            &[],
        )
        .map_err(|error| context.failed(error))?
        .get(0);
    if count > 0 {
        let samples = samples(
            session,
            context,
            &format!("SELECT zdm_row::text FROM {table} AS zdm_row WHERE {column_q} IS NULL LIMIT 5"),
        )?;
        return Err(Error::Precondition {
            migration: context.plan.id.to_string(),
            phase: context.phase,
            expectation: format!("no NULL in {table}.{column_q}, which the original column forbade"),
            count,
            samples,
        });
    }
    context.advance(session)?;
    Ok(Outcome::done(0))
}

/// Adds the NOT NULL stand-in and the carried CHECK and FOREIGN KEY constraints, each NOT
/// VALID, skipping those already there.
pub(super) fn add(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<Outcome> {
    let record = work.record;
    let (table, column, stand_in) = stand_in_of(session, context, work, target)?;
    let column_q = quote_ident(column);
    let retries = session.in_transaction(context, |transaction| {
        let existing = names_in(transaction, table)?;
        let not_null: bool = transaction
            .query_one(
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2",
                &[&table, &column],
            )?
            .get(0);
        if record.not_null && !not_null && !existing.contains(&stand_in) {
            transaction.execute_one(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} CHECK ({column_q} IS NOT NULL) NOT VALID",
                quote_ident(&stand_in)
            ))?;
        }
        for object in &record.objects {
            if matches!(object.kind, ObjectKind::Check | ObjectKind::ForeignKey)
                && !existing.iter().any(|name| name == object.name_for(target))
            {
                transaction.execute_one(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {} {} NOT VALID",
                    quote_ident(object.name_for(target)),
                    object.definition_for(target)
                ))?;
            }
        }
        Ok(())
    })?;
    Ok(Outcome::done(retries))
}

/// Validates the stand-in and every carried constraint the original had validated, each
/// in a transaction of its own.
pub(super) fn validate(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<Outcome> {
    let record = work.record;
    let (table, _, stand_in) = stand_in_of(session, context, work, target)?;
    let mut names = vec![stand_in];
    names.extend(
        record
            .objects
            .iter()
            .filter(|object| {
                matches!(object.kind, ObjectKind::Check | ObjectKind::ForeignKey) && object.validated
            })
            .map(|object| object.name_for(target).to_owned()),
    );
    let mut retries = 0;
    for name in names {
        let pending: bool = session
            .client()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint \
                 WHERE conrelid = to_regclass($1) AND conname = $2 AND NOT convalidated)",
                &[&table, &name],
            )
            .map_err(|error| context.failed(error))?
            .get(0);
        if pending {
            let sql = format!("ALTER TABLE {table} VALIDATE CONSTRAINT {}", quote_ident(&name));
            retries += session.transaction(context, |transaction| transaction.execute_one(&sql))?;
        }
    }
    context.advance(session)?;
    Ok(Outcome::done(retries))
}

/// Sets NOT NULL, which the validated stand-in lets PostgreSQL do without a scan, and
/// drops the stand-in.
pub(super) fn set_not_null(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<Outcome> {
    let record = work.record;
    let (table, column, stand_in) = stand_in_of(session, context, work, target)?;
    let stand_in = quote_ident(&stand_in);
    let column_q = quote_ident(column);
    let not_null = record.not_null;
    let retries = session.in_transaction(context, |transaction| {
        if not_null {
            transaction.execute_one(&format!(
                "ALTER TABLE {table} ALTER COLUMN {column_q} SET NOT NULL"
            ))?;
        }
        transaction.execute_one(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {stand_in}"
        ))
    })?;
    Ok(Outcome::done(retries))
}

fn is_not_null(client: &mut Client, context: &StepContext, table: &str, column: &str) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT attnotnull FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped",
            &[&table, &column],
        )
        .map_err(|error| context.failed(error))?;
    Ok(row.is_some_and(|row| row.get(0)))
}

/// The CHECK constraint that stands in for NOT NULL while it is validated; the same name
/// the macro gives its own ([`names::not_null_stand_in`]).
pub(super) fn not_null_stand_in(
    client: &mut Client,
    context: &StepContext,
    table: &str,
    column: &str,
) -> Result<String> {
    let relname: String = client
        .query_one(
            "SELECT relname::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .map_err(|error| context.failed(error))?
        .get(0);
    Ok(names::not_null_stand_in(&relname, column))
}

const CONSTRAINT_NAMES: &str = "SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1)";

fn names_in(transaction: &mut Transaction<'_>, table: &str) -> Result<Vec<String>, postgres::Error> {
    Ok(transaction
        .query(CONSTRAINT_NAMES, &[&table])?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The names of the constraints on `table`.
pub(super) fn names(session: &mut Session, context: &StepContext, table: &str) -> Result<Vec<String>> {
    Ok(session
        .client()
        .query(CONSTRAINT_NAMES, &[&table])
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The first column of each row `sql` returns, as text, for refusal messages.
pub(super) fn samples(session: &mut Session, context: &StepContext, sql: &str) -> Result<Vec<String>> {
    Ok(session
        .client()
        .query(sql, &[])
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| {
            row.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".to_owned())
        })
        .collect())
}
