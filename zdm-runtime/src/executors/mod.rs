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
use zdm_plan::{Action, CarryWork, Lock, Step};

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
    if scans(context.step) {
        session.scanning(|session| run_action(session, context, &mut report))?;
    } else {
        run_action(session, context, &mut report)?;
    }
    report.duration = started.elapsed();
    Ok(report)
}

/// Whether a step scans a table under a lock that blocks no read or write
/// (`VALIDATE CONSTRAINT` under SHARE UPDATE EXCLUSIVE, the checks of the data): its length
/// harms no one, so it runs under the scan timeout, not the one that bounds DDL.
fn scans(step: &Step) -> bool {
    match &step.action {
        Action::Check(_) => true,
        Action::Transaction(_) => step.lock == Lock::ShareUpdateExclusive,
        Action::Carry(carry) => matches!(
            carry.work,
            CarryWork::CheckNulls(_) | CarryWork::CheckConvertible { .. } | CarryWork::ValidateConstraints(_)
        ),
        _ => false,
    }
}

fn run_action(session: &mut Session, context: &StepContext, report: &mut StepReport) -> Result<()> {
    match &context.step.action {
        Action::Transaction(statements) => {
            let statements: Vec<String> = statements.iter().map(|sql| context.state.sql(sql)).collect();
            // Of several statements, the error shows the one that failed.
            let mut running: Option<&str> = None;
            let outcome = session.in_transaction(context, |transaction| {
                for statement in &statements {
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
        Action::CreateIndexConcurrentlyFromQuery { index, query } => {
            let query = context.state.sql(query);
            let statement: Option<String> = session
                .client()
                .query_opt(&query, &[])
                .map_err(|error| context.failed_in(error, Some(&query)))?
                .map(|row| row.get(0));
            match statement {
                Some(sql) => {
                    session.wait_for_replicas(context)?;
                    report.already_done = session.create_index_concurrently(context, index, &sql)?;
                }
                None => report.already_done = true,
            }
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::scans;
    use zdm_plan::{Check, Lock, Step};

    #[test]
    fn validations_and_data_checks_run_as_scans_and_ddl_does_not() {
        let table = "\"users\"";
        let validate = Step::transaction(
            "validate",
            Lock::ShareUpdateExclusive,
            table,
            ["ALTER TABLE \"users\" VALIDATE CONSTRAINT \"c\""],
        );
        let ddl = Step::transaction(
            "add",
            Lock::AccessExclusive,
            table,
            ["ALTER TABLE \"users\" ADD COLUMN \"c\" text"],
        );
        let check = Step::check(
            "no NULL",
            Lock::AccessShare,
            Some(table),
            Check::new("no NULL", "SELECT 0", "SELECT ''"),
        );
        let backfill = Step::backfill("fill", table, ["UPDATE \"users\" SET \"c\" = '' WHERE {range}"]);
        assert!(scans(&validate));
        assert!(scans(&check));
        assert!(!scans(&ddl));
        assert!(!scans(&backfill));
    }
}
