//! The steps between inspect and the swap: the new column, the type changed in place, the
//! backfill and the refill, the carried indexes.

use super::constraints::samples;
use super::facts;
use super::record::{ObjectKind, Outcome, Record, Stage, Work};
use crate::error::{Error, Result};
use crate::executors::backfill;
use crate::session::{Session, StepContext};
use crate::statement::ExecuteOne;
use crate::versions;
use zdm_plan::sql::quote_ident;
use zdm_plan::{CarryTarget, Phase, Text};

pub(super) fn add_column(session: &mut Session, context: &StepContext, work: &Work<'_>) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let sql = format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        carry.table,
        quote_ident(&carry.new_column),
        record.column_definition(CarryTarget::New)
    );
    let retries = session.in_transaction(context, |transaction| {
        transaction.execute_one(&sql)?;
        super::record::set_stage(transaction, context, Stage::Added)
    })?;
    Ok(Outcome::done(retries))
}

pub(super) fn alter_in_place(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    if !record.in_place {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted(format!(
            "skipped: {} → {} needs a copy",
            record.old_type, record.new_type
        )));
    }
    let table = &carry.table;
    let column = quote_ident(&carry.column);
    let mut statements = vec![format!(
        "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
        record.column_definition(CarryTarget::New)
    )];
    if let Some(default) = &record.new_default {
        statements.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"
        ));
    }
    let retries = in_transaction_to(session, context, table, &statements, Stage::Altered)?;
    Ok(Outcome::done(retries).noted(format!(
        "in place: {} → {} is binary-coercible and rebuilds no index, so only the catalog changes; \
         sync, backfill and contract have nothing to do",
        record.old_type, record.new_type
    )))
}

pub(super) fn restore_in_place(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    if !record.in_place || record.stage != Stage::Altered {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted("nothing to restore: the type was not changed in place"));
    }
    let table = &carry.table;
    let column = quote_ident(&carry.column);
    let mut statements = vec![format!(
        "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
        record.column_definition(CarryTarget::Original)
    )];
    statements.push(match &record.old_default {
        Some(default) => format!("ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"),
        None => format!("ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"),
    });
    let retries = in_transaction_to(session, context, table, &statements, Stage::Inspected)?;
    Ok(Outcome::done(retries))
}

/// Runs `statements` in one step's transaction that also moves the swap to `stage`.
/// A type change in place, with the version views over the table (an earlier migration's,
/// which the old version may still read) taken down and put back around it: PostgreSQL
/// refuses to change the type of a column a view uses.
fn in_transaction_to(
    session: &mut Session,
    context: &StepContext,
    table: &str,
    statements: &[String],
    stage: Stage,
) -> Result<u32> {
    session.in_transaction(context, |transaction| {
        versions::around_type_change(transaction, context.state, table, |transaction| {
            for statement in statements {
                transaction.execute_one(statement)?;
            }
            Ok(())
        })?;
        super::record::set_stage(transaction, context, stage)
    })
}

/// The plan's statements with the recorded old type filled in.
pub(super) fn statements(
    session: &mut Session,
    context: &StepContext,
    record: &Record,
    statements: &[Text],
) -> Result<Outcome> {
    let statements: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
    let retries = session.in_transaction(context, |transaction| {
        for statement in &statements {
            transaction.execute_one(statement)?;
        }
        Ok(())
    })?;
    Ok(Outcome::done(retries))
}

pub(super) fn backfill(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    statements: &[Text],
    refill: bool,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    if refill && record.stage != Stage::Unswapped {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted("nothing to refill: the old column was never dropped"));
    }
    let undoes_backfill = context
        .plan
        .phase(Phase::Backfill)
        .reverse
        .iter()
        .any(|step| std::ptr::eq(step, context.step));
    // Clearing the new column would show NULLs to a new version reading it through its
    // version schema; the trigger keeps it right, and the next backfill fills only NULLs.
    if undoes_backfill
        && !session.options().new_version_stopped
        && versions::shows(
            session.client(),
            context.state,
            &context.plan.id,
            &carry.table,
            &carry.new_column,
        )
        .map_err(|error| context.failed(error))?
    {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted(format!(
            "kept: the new version reads {} through its version schema, and the trigger keeps it in step",
            quote_ident(&carry.new_column)
        )));
    }
    let statements: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let outcome = backfill::run_statements(session, context, &carry.table, &statements)?;
    Ok(Outcome {
        rows: outcome.rows,
        lock_retries: outcome.lock_retries,
        already_done: false,
        note: None,
    })
}

/// Builds every carried index concurrently, dropping an INVALID leftover of a killed
/// build first; a UNIQUE constraint of the original column is attached to its index.
pub(super) fn build_indexes(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    target: CarryTarget,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let table = &carry.table;
    let schema = facts::table_schema(session.client(), table).map_err(|error| context.failed(error))?;
    let mut outcome = Outcome::done(0);
    let mut built = 0;
    for object in record.objects.iter().filter(|object| object.kind.is_index()) {
        let name = object.name_for(target);
        let exists_as_constraint = super::constraints::names(session, context, table)?
            .iter()
            .any(|existing| existing == name);
        if object.kind == ObjectKind::Unique && target == CarryTarget::Original && exists_as_constraint {
            continue;
        }
        let sql = object.create_index(table, target, true);
        if !session.create_index_concurrently(
            context,
            &zdm_plan::sql::qualified(schema.as_deref(), name),
            &sql,
        )? {
            built += 1;
        }
        if object.kind == ObjectKind::Unique && target == CarryTarget::Original {
            let sql = format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} UNIQUE USING INDEX {}{}",
                quote_ident(name),
                quote_ident(name),
                object.attributes
            );
            outcome.lock_retries +=
                session.transaction(context, |transaction| transaction.execute_one(&sql))?;
        }
    }
    context.advance(session)?;
    outcome.already_done = built == 0 && record.objects.iter().any(|object| object.kind.is_index());
    Ok(outcome)
}

pub(super) fn drop_indexes(session: &mut Session, context: &StepContext, work: &Work<'_>) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let mut retries = 0;
    let schema =
        facts::table_schema(session.client(), &carry.table).map_err(|error| context.failed(error))?;
    for object in record.objects.iter().filter(|object| object.kind.is_index()) {
        let sql = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {}",
            zdm_plan::sql::qualified(schema.as_deref(), &object.carried_name)
        );
        retries += session.outside_transaction(context, &sql)?;
    }
    context.advance(session)?;
    Ok(Outcome::done(retries))
}

/// Counts the rows whose value the `up` conversion cannot turn into the new type, with a
/// few of them, before anything is copied. First one plain scan converting every value:
/// when none fails, as nearly always, that is the answer. Otherwise the conversion runs in
/// a function of the runner's own session (`pg_temp`), once per row, catching the error of
/// each: a subtransaction per row, which cost as much as the backfill's own writes.
pub(super) fn check_convertible(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    conversion: &str,
    scan: &str,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let table = &carry.table;
    let column_q = quote_ident(&carry.column);
    // Any error of the scan, not only a failed conversion, sends the check to the per-row
    // count: that count then either finds the rows or reports the error itself.
    if session.client().query_one(scan, &[]).is_ok() {
        context.advance(session)?;
        return Ok(Outcome::done(0));
    }
    let function = format!(
        "CREATE OR REPLACE FUNCTION pg_temp.zdm_convertible(anyelement) RETURNS boolean \
         LANGUAGE plpgsql AS {}",
        zdm_plan::sql::dollar_quote(&format!(
            "\nDECLARE converted {};\n\
             BEGIN\n  converted := {conversion};\n  RETURN true;\n\
             EXCEPTION WHEN OTHERS THEN\n  RETURN false;\nEND\n",
            record.new_type
        ))
    );
    let client = session.client();
    client
        .execute_one(&function)
        .map_err(|error| context.failed(error))?;
    let counted = client.query_one(
        format!("SELECT count(*) FROM {table} WHERE NOT pg_temp.zdm_convertible({column_q})").as_str(),
        &[],
    );
    let count: i64 = match counted {
        Ok(row) => row.get(0),
        Err(error) => {
            let _ = client.execute_one("DROP FUNCTION IF EXISTS pg_temp.zdm_convertible(anyelement)");
            return Err(context.failed(error));
        }
    };
    let found = if count > 0 {
        samples(
            session,
            context,
            &format!(
                "SELECT zdm_row::text FROM {table} AS zdm_row \
                 WHERE NOT pg_temp.zdm_convertible(zdm_row.{column_q}) LIMIT 5"
            ),
        )
    } else {
        Ok(Vec::new())
    };
    let _ = session
        .client()
        .execute_one("DROP FUNCTION IF EXISTS pg_temp.zdm_convertible(anyelement)");
    let found = found?;
    if count > 0 {
        return Err(Error::Precondition {
            migration: context.plan.id.to_string(),
            phase: context.phase,
            expectation: format!(
                "every value of {table}.{column_q} convertible to {} by `up`",
                record.new_type
            ),
            count,
            samples: found,
        });
    }
    context.advance(session)?;
    Ok(Outcome::done(0))
}
