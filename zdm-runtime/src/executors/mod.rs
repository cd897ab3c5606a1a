//! The executors: one per kind of step action, each running its step in the session it is
//! given. The runner hands every step to [`run`] and learns only what it did.

mod backfill;
mod carry;
mod split;

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::expect;
use crate::report::StepReport;
use crate::session::{Session, StepContext};
use crate::statement::ExecuteOne;
use zdm_plan::Action;

/// Whether a step of this kind only reads: a check of the schema or of the data.
pub(crate) fn changes_nothing(action: &Action) -> bool {
    matches!(action, Action::Expect(_) | Action::Check(_))
}

/// Runs the step of `context` and says what it did; the step's state update is part of
/// its work.
pub(crate) fn run(session: &mut Session, context: &StepContext) -> Result<StepReport> {
    let started = Instant::now();
    let mut report = StepReport {
        description: &context.step.description,
        duration: Duration::ZERO,
        rows: 0,
        lock_retries: 0,
        already_done: false,
        note: None,
    };
    match &context.step.action {
        Action::Transaction(statements) => {
            // Of several statements, the error shows the one that failed.
            let mut running: Option<&str> = None;
            let outcome = session.in_transaction(context, |transaction| {
                for statement in statements.iter() {
                    running = Some(statement);
                    transaction.execute_one(statement)?;
                }
                running = None;
                Ok(())
            });
            report.lock_retries = match outcome {
                Err(Error::Step { source, .. }) if running.is_some() => {
                    return Err(context.failed_in(source, running))
                }
                outcome => outcome?,
            };
        }
        Action::Expect(expectation) => {
            expect::check_expectation(session.client(), context.plan, expectation)?;
            context.advance(session)?;
        }
        Action::Check(check) => {
            report.rows = expect::run_check(session.client(), context, check)?;
            context.advance(session)?;
        }
        Action::CreateIndexConcurrently { index, sql } => {
            session.wait_for_replicas(context)?;
            report.already_done = session.create_index_concurrently(context, index, sql)?;
            context.advance(session)?;
        }
        Action::DropIndexConcurrently { sql, .. } => {
            session.outside_transaction(context, sql)?;
            context.advance(session)?;
        }
        Action::Backfill(spec) => {
            let outcome = backfill::run(session, context, spec)?;
            report.rows = outcome.rows;
            report.lock_retries = outcome.lock_retries;
            report.note = outcome.note;
        }
        Action::Split(spec) => {
            report.lock_retries = split::run(session, context, spec)?;
        }
        Action::Carry(spec) => {
            let outcome = carry::run(session, context, spec)?;
            report.rows = outcome.rows;
            report.lock_retries = outcome.lock_retries;
            report.already_done = outcome.already_done;
            report.note = outcome.note;
        }
    }
    report.duration = started.elapsed();
    Ok(report)
}
