//! Column swaps whose SQL depends on the live catalog: `rename_column` and `change_type`
//! add a column beside an existing one, keep both in step, and at contract drop the old one.
//! Everything the old column carries (type, collation, default, NOT NULL, CHECK and FOREIGN
//! KEY constraints, UNIQUE constraints, indexes, comment, statistics target) must reach the
//! new column, and come back exactly when the contract is reverted. The macro cannot know
//! any of it, so it is read here, at run time.
//!
//! The first step of expand ([`CarryWork::Inspect`]) reads the column, refuses what cannot
//! be carried safely (naming the object), checks every rewritten definition on a scratch
//! copy of the table in a transaction it rolls back, and records what it found in
//! `zdm.carried_columns` / `zdm.carried_objects`. Every later step works from that record,
//! so a resumed or reverted phase acts on what the first run saw, not on a catalog the
//! migration itself has half changed. Each step is idempotent: it looks at the catalog
//! before each change and skips what is already done.
//!
//! The parts: [`inspect`] reads the catalog ([`facts`]), applies the refusal [`rules`],
//! reads and rewrites the definitions ([`definitions`], [`rewrite`]) and tries them on the
//! scratch copy ([`probes`]); [`copy`] and [`constraints`] are the steps between expand and
//! contract; [`swap`] is the contract and its reversal; [`record`] is what they share.

mod constraints;
mod copy;
mod definitions;
mod facts;
mod inspect;
mod probes;
mod record;
mod rewrite;
mod rules;
mod swap;

use crate::error::Result;
use crate::session::{Session, StepContext};
use crate::statement::ExecuteOne;
use record::{Stage, Work};
use zdm_plan::sql::quote_ident;
use zdm_plan::{Carry, CarryWork};

pub(crate) use record::Outcome;

pub(crate) fn run(session: &mut Session, context: &StepContext, carry: &'static Carry) -> Result<Outcome> {
    match &carry.work {
        CarryWork::Inspect {
            ty,
            default,
            converts,
            up,
            down,
            triggers_checked,
        } => inspect::inspect(
            session,
            context,
            carry,
            &inspect::Declared {
                ty: ty.as_deref(),
                default: default.as_deref(),
                converts: *converts,
                up: up.as_deref(),
                down: down.as_deref(),
                triggers_checked: *triggers_checked,
            },
        ),
        CarryWork::Forget => {
            let retries = session.in_transaction(context, |transaction| {
                record::forget(transaction, context.state, &context.plan.id)
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::RestoreInPlace => match record::load(session.client(), context)? {
            Some(record) => copy::restore_in_place(
                session,
                context,
                &Work {
                    carry,
                    record: &record,
                },
            ),
            // A refused expand recorded nothing and changed nothing.
            None => {
                context.advance(session)?;
                Ok(Outcome::done(0).noted("nothing to restore: expand recorded nothing"))
            }
        },
        CarryWork::DropColumn => drop_column(session, context, carry),
        work => {
            let record = record::required(session, context)?;
            if record.in_place && !matches!(work, CarryWork::AlterInPlace | CarryWork::RestoreInPlace) {
                context.advance(session)?;
                return Ok(Outcome::done(0).noted("skipped: the type was changed in place"));
            }
            run_recorded(session, context, carry, work, &record)
        }
    }
}

/// The steps that work from the record expand made.
fn run_recorded(
    session: &mut Session,
    context: &StepContext,
    carry: &'static Carry,
    step: &CarryWork,
    record: &record::Record,
) -> Result<Outcome> {
    let work = Work { carry, record };
    match *step {
        CarryWork::CheckConvertible {
            ref conversion,
            ref scan,
        } => copy::check_convertible(session, context, &work, conversion, scan),
        CarryWork::AddColumn => copy::add_column(session, context, &work),
        CarryWork::AlterInPlace => copy::alter_in_place(session, context, &work),
        CarryWork::RestoreInPlace => copy::restore_in_place(session, context, &work),
        CarryWork::Transaction(ref statements) => copy::statements(session, context, record, statements),
        CarryWork::Backfill {
            ref statements,
            refill,
        } => copy::backfill(session, context, &work, statements, refill),
        CarryWork::BuildIndexes(target) => copy::build_indexes(session, context, &work, target),
        CarryWork::DropIndexes => copy::drop_indexes(session, context, &work),
        CarryWork::CheckNulls(target) => constraints::check_nulls(session, context, &work, target),
        CarryWork::AddConstraints(target) => constraints::add(session, context, &work, target),
        CarryWork::ValidateConstraints(target) => constraints::validate(session, context, &work, target),
        CarryWork::SetNotNull(target) => constraints::set_not_null(session, context, &work, target),
        CarryWork::Swap {
            ref statements,
            rename,
        } => swap::swap(session, context, &work, statements, rename),
        CarryWork::Unswap {
            ref statements,
            rename,
        } => swap::unswap(session, context, &work, statements, rename),
        CarryWork::Inspect { .. } | CarryWork::Forget | CarryWork::DropColumn => {
            unreachable!("handled by run")
        }
    }
}

/// Drops the new column, but only one this migration added: a failed expand may have
/// stopped on a column of that name that was already there.
fn drop_column(session: &mut Session, context: &StepContext, carry: &'static Carry) -> Result<Outcome> {
    let added = record::load(session.client(), context)?
        .is_some_and(|record| matches!(record.stage, Stage::Added | Stage::Unswapped));
    if !added {
        context.advance(session)?;
        return Ok(Outcome::done(0).noted("nothing to drop: this migration added no column"));
    }
    let sql = format!(
        "ALTER TABLE {} DROP COLUMN IF EXISTS {}",
        carry.table,
        quote_ident(&carry.new_column)
    );
    let retries = session.in_transaction(context, |transaction| {
        transaction.execute_one(&sql)?;
        record::set_stage(transaction, context, Stage::Inspected)
    })?;
    Ok(Outcome::done(retries))
}
