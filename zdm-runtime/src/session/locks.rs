//! The lock policy: every transactional step runs in a short transaction under
//! `lock_timeout`, retried with backoff and jitter while the lock budget lasts.

use std::time::{Duration, Instant};

use postgres::{Client, Transaction};

use super::{blockers, Options, Session, StepContext};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::statement::ExecuteOne;
use crate::store;

impl Session {
    /// Runs `work` in a short transaction under `lock_timeout`, together with the step's
    /// state update, retrying lock timeouts with exponential backoff and jitter within the
    /// lock budget. Returns how many attempts timed out.
    pub(crate) fn in_transaction(
        &mut self,
        context: &StepContext,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        self.transaction(context, |transaction| {
            work(transaction)?;
            store::advance_in(transaction, context.state, &context.plan.id, context.index)
        })
    }

    /// Retries `attempt` while it fails with a lock timeout and the budget lasts; the
    /// final error names the sessions holding locks on the step's table.
    pub(crate) fn with_lock_retries(
        &mut self,
        context: &StepContext,
        attempt: impl FnMut(&mut Client, &Options) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        self.retrying(context, None, attempt)
    }

    /// [`Session::with_lock_retries`] for an attempt that runs `statement`, which a
    /// failure then shows.
    pub(super) fn retrying(
        &mut self,
        context: &StepContext,
        statement: Option<&str>,
        mut attempt: impl FnMut(&mut Client, &Options) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        let started = Instant::now();
        let mut delay = self.options.lock_timeout.min(Duration::from_millis(100));
        let mut timeouts = 0;
        let mut blockers = Vec::new();
        loop {
            match attempt(&mut self.client, &self.options) {
                Ok(()) => return Ok(timeouts),
                Err(error) if Error::is_lock_timeout(&error) => {
                    timeouts += 1;
                    let mut now_blocking = match &context.step.table {
                        Some(table) => blockers::lock_holders(&mut self.client, &context.state.sql(table))?,
                        None => Vec::new(),
                    };
                    if let Some(since) = &self.concurrent_since {
                        for old in blockers::older_transactions(&mut self.client, since)? {
                            if now_blocking.iter().all(|blocker| blocker.pid != old.pid) {
                                now_blocking.push(old);
                            }
                        }
                    }
                    if !now_blocking.is_empty() {
                        blockers = now_blocking;
                    }
                    let pause = jitter(delay);
                    if started.elapsed() + pause + self.options.lock_timeout > self.options.lock_budget {
                        return Err(Error::LockTimeout {
                            migration: context.plan.id.to_string(),
                            step: context.step.description.to_string(),
                            attempts: timeouts,
                            lock_timeout: self.options.lock_timeout,
                            budget: self.options.lock_budget,
                            blockers,
                        });
                    }
                    self.emit(Event::LockWait {
                        migration: &context.plan.id,
                        step: context.step,
                        attempt: timeouts,
                        blockers: &blockers,
                        retry_in: pause,
                    });
                    std::thread::sleep(pause);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(error) => {
                    return Err(match statement {
                        Some(statement) => context.failed_in(error, Some(statement)),
                        None => context.failed(error),
                    })
                }
            }
        }
    }

    /// Statements in one short transaction under the lock policy, without moving the step
    /// counter: for steps made of several transactions, which advance once at the end.
    pub(crate) fn transaction(
        &mut self,
        context: &StepContext,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<(), postgres::Error>,
    ) -> Result<u32> {
        self.with_lock_retries(context, |client, options| {
            let mut transaction = short_transaction(client, options)?;
            work(&mut transaction)?;
            transaction.commit()
        })
    }
}

/// A transaction under the runner's lock policy: no statement in it waits longer than
/// `lock_timeout` for a lock or runs longer than `statement_timeout`.
pub(crate) fn short_transaction<'a>(
    client: &'a mut Client,
    options: &Options,
) -> Result<Transaction<'a>, postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.execute_one(&format!(
        "SET LOCAL lock_timeout = {}",
        options.lock_timeout.as_millis().max(1)
    ))?;
    transaction.execute_one(&format!(
        "SET LOCAL statement_timeout = {}",
        options.statement_timeout.as_millis()
    ))?;
    if options.allow_data_loss {
        transaction.execute_one("SET LOCAL zdm.allow_data_loss = on")?;
    }
    Ok(transaction)
}

/// Spreads retries of concurrent runners and clients apart: a pause between half and all of
/// `delay`, drawn from the clock (no generator crate for one number).
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(fraction)
}
