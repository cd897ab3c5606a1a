//! The first step of a column swap's expand: read the column and everything on it, apply
//! the refusal rules, try the carried definitions on a scratch copy, and record what it
//! found; or refuse, changing nothing, with every reason at once.

use postgres::Transaction;

use super::definitions::{self, Carried};
use super::facts::{self, Column, Relation};
use super::probes;
use super::record::{save_record, Outcome, Record, Stage};
use super::rules::{self, Verdict};
use crate::error::{Error, Result};
use crate::session::{short_transaction, Session, StepContext};
use zdm_plan::sql::quote_ident;
use zdm_plan::Carry;

pub(super) use facts::Declared;

/// What [`examine`] found: the record to keep, or why not.
struct Findings {
    refusals: Vec<String>,
    record: Option<Record>,
}

impl Findings {
    fn refused(refusals: Vec<String>) -> Result<Findings, postgres::Error> {
        Ok(Findings {
            refusals,
            record: None,
        })
    }
}

pub(super) fn inspect(
    session: &mut Session,
    context: &StepContext,
    carry: &'static Carry,
    declared: &Declared,
) -> Result<Outcome> {
    let mut findings = None;
    let retries = session.with_lock_retries(context, |client, options| {
        let mut transaction = short_transaction(client, options)?;
        findings = Some(examine(&mut transaction, carry, declared)?);
        // The scratch tables of the checks go with the transaction.
        transaction.rollback()
    })?;
    let findings = findings.expect("with_lock_retries returned Ok after a successful attempt");
    let column = format!("{}.{}", carry.table, quote_ident(&carry.column));
    if !findings.refusals.is_empty() {
        let reasons: String = findings
            .refusals
            .iter()
            .map(|reason| format!("\n  - {reason}"))
            .collect();
        return Err(Error::Refused {
            migration: context.plan.id.to_string(),
            before: "any change".to_owned(),
            reason: format!(
                "{column} cannot be carried to {} safely:{reasons}",
                quote_ident(&carry.new_column)
            ),
        });
    }
    let record = findings
        .record
        .expect("examine returns a record when it has no refusal");
    let more = session.in_transaction(context, |transaction| {
        save_record(transaction, context.state, &context.plan.id, &record)
    })?;
    let note = if record.in_place {
        format!(
            "{} → {} changes in place (binary-coercible, no index rebuilt); nothing to copy",
            record.old_type, record.new_type
        )
    } else if record.old_type != record.new_type {
        format!(
            "{} → {} by copy; {}",
            record.old_type,
            record.new_type,
            record.summary()
        )
    } else {
        record.summary()
    };
    Ok(Outcome::done(retries + more).noted(note))
}

/// Reads the column and everything that depends on it, and tries every carried
/// definition on scratch copies of the table; runs in a transaction the caller rolls back.
fn examine(
    transaction: &mut Transaction<'_>,
    carry: &'static Carry,
    declared: &Declared,
) -> Result<Findings, postgres::Error> {
    let table = &carry.table;
    let Some(relation) = facts::relation(transaction, table)? else {
        return Findings::refused(vec![format!("there is no table {table}")]);
    };
    if !matches!(relation.kind.as_str(), "r" | "p") {
        return Findings::refused(vec![format!("{table} is not a table")]);
    }
    let mut refusals: Vec<String> = rules::TABLE_RULES
        .iter()
        .filter_map(|rule| rule(&relation))
        .collect();
    let Some(column) = facts::column(transaction, &relation, carry)? else {
        return Findings::refused(vec![format!(
            "{table} has no column {}",
            quote_ident(&carry.column)
        )]);
    };
    // Messages always quote the column, whatever PostgreSQL's quoting leaves bare.
    let label = quote_ident(&carry.column);
    refusals.extend(
        rules::COLUMN_RULES
            .iter()
            .filter_map(|rule| rule(&column, &label)),
    );
    let mut found = Vec::new();
    for dependent in facts::dependents(transaction, &relation, &column)? {
        match rules::judge(transaction, &relation, &column, &label, &dependent)? {
            Verdict::Carry(kind, object) => found.push((kind, object)),
            Verdict::Follows => {}
            Verdict::Refuse(reason) => refusals.push(reason),
        }
    }
    if !declared.triggers_checked {
        refusals.extend(rules::user_triggers(
            transaction,
            &relation,
            &column,
            &label,
            &carry.column,
            declared.ty.is_none(),
        )?);
    }
    let carried = definitions::read_all(transaction, &relation, &column, found, &mut refusals)?;
    if !refusals.is_empty() {
        return Findings::refused(refusals);
    }
    try_on_copy(transaction, carry, declared, &relation, column, carried)
}

/// The second half of [`examine`], once no rule refused: the new column, its default and
/// the conversions and carried definitions, each tried on the scratch copy.
fn try_on_copy(
    transaction: &mut Transaction<'_>,
    carry: &'static Carry,
    declared: &Declared,
    relation: &Relation,
    column: Column,
    carried: Vec<Carried>,
) -> Result<Findings, postgres::Error> {
    let mut refusals = Vec::new();
    let new = match probes::add_new_column(transaction, carry, &column, declared)? {
        Ok(new) => new,
        Err(reason) => return Findings::refused(vec![reason]),
    };
    if declared.ty.is_some() && new.ty == column.ty && new.collation == column.collation {
        return Findings::refused(vec![format!(
            "{} already has the type {}; there is nothing to change",
            quote_ident(&carry.column),
            column.ty
        )]);
    }
    let new_default = match probes::new_default(transaction, carry, &column, declared, &new.ty)? {
        Ok(default) => default,
        Err(reason) => return Findings::refused(vec![reason]),
    };
    probes::try_conversions(
        transaction,
        &column,
        declared,
        new_default.as_ref(),
        &new.ty,
        &mut refusals,
    )?;
    probes::try_carried(transaction, carry, relation, &new, &carried, &mut refusals)?;
    if !refusals.is_empty() {
        return Findings::refused(refusals);
    }
    let objects: Vec<_> = carried.into_iter().map(|carried| carried.object).collect();
    let in_place = declared.ty.is_some()
        && !declared.converts
        && probes::changes_in_place(transaction, carry, &objects, &new.ty, &new.collation)?;
    Ok(Findings {
        refusals,
        record: Some(Record {
            stage: Stage::Inspected,
            in_place,
            old_type: column.ty,
            new_type: new.ty,
            old_collation: column.collation,
            new_collation: new.collation,
            old_default: column.default,
            new_default: if in_place {
                declared.default.map(str::to_owned)
            } else {
                new_default
            },
            not_null: column.not_null,
            comment: column.comment,
            statistics: column.statistics,
            objects,
        }),
    })
}
