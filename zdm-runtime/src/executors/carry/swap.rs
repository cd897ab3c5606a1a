//! The contract of a column swap, and its reversal from wherever it stopped.

use postgres::Transaction;

use super::constraints::not_null_stand_in;
use super::facts;
use super::record::{display, set_stage, ObjectKind, Outcome, Record, Stage, Work};
use crate::error::{Error, Result};
use crate::session::{Session, StepContext};
use crate::statement::ExecuteOne;
use crate::versions;
use zdm_plan::sql::{quote_ident, quote_literal};
use zdm_plan::{Carry, CarryTarget, Text};

/// The contract's swap, in one transaction: the sync trigger goes, the old column goes
/// (and with it its indexes and constraints), the new one takes the final name, its
/// default, comment and statistics target, and the carried objects their original names.
pub(super) fn swap(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    statements: &[Text],
    rename: bool,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let table = &carry.table;
    let schema = facts::table_schema(session.client(), table).map_err(|error| context.failed(error))?;
    let sql = swap_statements(carry, record, statements, rename, schema.as_deref());
    if record.stage == Stage::Swapped {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted("already swapped"));
    }
    let unknown = uncarried_dependents(session, context, carry, record)?;
    if !unknown.is_empty() {
        return Err(Error::Refused {
            migration: context.plan.id.to_string(),
            before: "the swap, which leaves the old column as it is".to_owned(),
            reason: format!(
                "{} depend on {}.{} but were created after expand, so nothing carried them, and dropping the \
                 column would drop them; drop them, or revert to before expand and run it again",
                unknown.iter().map(|name| display(name)).collect::<Vec<_>>().join(", "),
                table,
                quote_ident(&carry.column)
            ),
        });
    }
    let final_column: &str = if rename { &carry.column } else { &carry.new_column };
    let retries = session.in_transaction(context, |transaction| {
        let original = not_null_constraint(transaction, table, &carry.column)?;
        versions::repoint(
            transaction,
            context.state,
            table,
            &carry.column,
            &carry.new_column,
        )?;
        for statement in &sql {
            transaction.execute_one(statement)?;
        }
        // PostgreSQL 18 names the NOT NULL constraint SET NOT NULL made after the column it
        // was made on, the transition column; the column that takes the old one's place
        // takes its constraint's name too, as a RENAME COLUMN or an ALTER TYPE would leave it.
        if let Some(original) = original {
            match not_null_constraint(transaction, table, final_column)? {
                Some(current) if current != original => transaction.execute_one(&format!(
                    "ALTER TABLE {table} RENAME CONSTRAINT {} TO {}",
                    quote_ident(&current),
                    quote_ident(&original)
                ))?,
                _ => {}
            }
        }
        set_stage(transaction, context, Stage::Swapped)
    })?;
    Ok(Outcome::done(retries))
}

/// The name of the NOT NULL constraint of `table`.`column` (PostgreSQL 18 on; none before).
fn not_null_constraint(
    transaction: &mut Transaction<'_>,
    table: &str,
    column: &str,
) -> Result<Option<String>, postgres::Error> {
    Ok(transaction
        .query_opt(
            "SELECT c.conname::text FROM pg_constraint c \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.conrelid = to_regclass($1) AND c.contype = 'n' AND a.attname = $2",
            &[&table, &column],
        )?
        .map(|row| row.get(0)))
}

/// The indexes and constraints on the old column that expand did not record: created
/// since, so nothing carried them.
fn uncarried_dependents(
    session: &mut Session,
    context: &StepContext,
    carry: &'static Carry,
    record: &Record,
) -> Result<Vec<String>> {
    // DROP COLUMN takes the column's indexes with it even without CASCADE: one created
    // after expand, which nothing carried, would be lost without a word.
    let table = &carry.table;
    let unknown: Vec<String> = session
        .client()
        .query(
            "SELECT DISTINCT coalesce(i.relname, k.conname)::text FROM pg_depend d \
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             LEFT JOIN pg_class i ON d.classid = 'pg_class'::regclass AND i.oid = d.objid AND i.relkind = 'i' \
             LEFT JOIN pg_constraint k ON d.classid = 'pg_constraint'::regclass AND k.oid = d.objid \
                 AND k.contype IN ('c', 'f', 'u', 'p', 'x') \
             WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) AND a.attname = $2 \
               AND coalesce(i.relname, k.conname) IS NOT NULL \
             ORDER BY 1",
            &[&table, &carry.column],
        )
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| !record.objects.iter().any(|object| &object.name == name))
        .collect();
    Ok(unknown)
}

/// The swap's statements, in the order they run.
fn swap_statements(
    carry: &'static Carry,
    record: &Record,
    statements: &[Text],
    rename: bool,
    schema: Option<&str>,
) -> Vec<String> {
    let table = &carry.table;
    let final_column: &str = if rename { &carry.column } else { &carry.new_column };
    let final_q = quote_ident(final_column);
    let mut sql: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
    sql.push(format!(
        "ALTER TABLE {table} DROP COLUMN {}",
        quote_ident(&carry.column)
    ));
    if rename {
        sql.push(format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {final_q}",
            quote_ident(&carry.new_column)
        ));
    }
    if let Some(default) = &record.new_default {
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {final_q} SET DEFAULT {default}"
        ));
    }
    for object in &record.objects {
        let (carried, original) = (quote_ident(&object.carried_name), quote_ident(&object.name));
        sql.push(match object.kind {
            ObjectKind::Index | ObjectKind::UniqueIndex => {
                format!(
                    "ALTER INDEX {} RENAME TO {original}",
                    zdm_plan::sql::qualified(schema, &object.carried_name)
                )
            }
            ObjectKind::Unique => format!(
                "ALTER TABLE {table} ADD CONSTRAINT {original} UNIQUE USING INDEX {carried}{}",
                object.attributes
            ),
            ObjectKind::Check | ObjectKind::ForeignKey => {
                format!("ALTER TABLE {table} RENAME CONSTRAINT {carried} TO {original}")
            }
        });
    }
    sql.extend(column_extras(table, &final_q, record));
    sql
}

/// The comment and statistics target of the original column, set on `column_q`.
fn column_extras(table: &str, column_q: &str, record: &Record) -> Vec<String> {
    let mut sql = Vec::new();
    if let Some(comment) = &record.comment {
        sql.push(format!(
            "COMMENT ON COLUMN {table}.{column_q} IS {}",
            quote_literal(comment)
        ));
    }
    if let Some(statistics) = record.statistics {
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {column_q} SET STATISTICS {statistics}"
        ));
    }
    sql
}

/// Reverts the contract from wherever it stopped. After the swap: the new column gets its
/// transition name back, loses what the contract gave it, the carried objects get their
/// generated names back (a UNIQUE constraint is dropped; its index is rebuilt by a later
/// step), the old column is re-added empty with its type, collation, default, comment and
/// statistics target, and the sync trigger is reinstalled; the next step refills it.
/// Before the swap: only the constraints the contract added to the new column go.
pub(super) fn unswap(
    session: &mut Session,
    context: &StepContext,
    work: &Work<'_>,
    statements: &[Text],
    rename: bool,
) -> Result<Outcome> {
    let Work { carry, record } = *work;
    let stand_in = quote_ident(&not_null_stand_in(
        session.client(),
        context,
        &carry.table,
        &carry.new_column,
    )?);
    let schema =
        facts::table_schema(session.client(), &carry.table).map_err(|error| context.failed(error))?;
    let (sql, stage) = if record.stage == Stage::Swapped {
        (
            unswap_after_swap(carry, record, statements, rename, schema.as_deref()),
            Stage::Unswapped,
        )
    } else {
        (unswap_before_swap(carry, record, &stand_in), Stage::Added)
    };
    let retries = session.in_transaction(context, |transaction| {
        for statement in &sql {
            transaction.execute_one(statement)?;
        }
        set_stage(transaction, context, stage)
    })?;
    Ok(Outcome::done(retries))
}

/// After the swap: everything the swap did, undone, and the old column back, empty.
fn unswap_after_swap(
    carry: &'static Carry,
    record: &Record,
    statements: &[Text],
    rename: bool,
    schema: Option<&str>,
) -> Vec<String> {
    let table = &carry.table;
    let column_q = quote_ident(&carry.column);
    let new_q = quote_ident(&carry.new_column);
    let mut sql = Vec::new();
    if rename {
        sql.push(format!("ALTER TABLE {table} RENAME COLUMN {column_q} TO {new_q}"));
    }
    for object in &record.objects {
        let (carried, original) = (quote_ident(&object.carried_name), quote_ident(&object.name));
        sql.push(match object.kind {
            ObjectKind::Index | ObjectKind::UniqueIndex => {
                format!(
                    "ALTER INDEX IF EXISTS {} RENAME TO {carried}",
                    zdm_plan::sql::qualified(schema, &object.name)
                )
            }
            ObjectKind::Unique | ObjectKind::Check | ObjectKind::ForeignKey => {
                format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {original}")
            }
        });
    }
    sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP NOT NULL"));
    sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP DEFAULT"));
    sql.push(format!("COMMENT ON COLUMN {table}.{new_q} IS NULL"));
    if record.statistics.is_some() {
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {new_q} SET STATISTICS -1"
        ));
    }
    sql.push(format!(
        "ALTER TABLE {table} ADD COLUMN {column_q} {}",
        record.column_definition(CarryTarget::Original)
    ));
    if let Some(default) = &record.old_default {
        // Set after the column exists, so existing rows stay NULL (no rewrite, even
        // for a volatile default) until the refill writes them.
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {column_q} SET DEFAULT {default}"
        ));
    }
    sql.extend(column_extras(table, &column_q, record));
    sql.extend(statements.iter().map(|statement| record.substitute(statement)));
    sql
}

/// Before the swap: only the constraints the contract added to the new column.
fn unswap_before_swap(carry: &'static Carry, record: &Record, stand_in: &str) -> Vec<String> {
    let table = &carry.table;
    let new_q = quote_ident(&carry.new_column);
    let mut sql = Vec::new();
    for object in &record.objects {
        if matches!(object.kind, ObjectKind::Check | ObjectKind::ForeignKey) {
            sql.push(format!(
                "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {}",
                quote_ident(&object.carried_name)
            ));
        }
    }
    sql.push(format!(
        "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {stand_in}"
    ));
    sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP NOT NULL"));
    sql
}
