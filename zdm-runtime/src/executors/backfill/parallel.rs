//! Heap-page batches run side by side ([`Options::backfill_workers`]): each round hands
//! consecutive page ranges to the runner's own connection and to worker connections, and
//! the batches commit in page order. A worker's batch writes its rows as soon as it gets
//! its range but commits only after the batch before it has, so the checkpoint each commit
//! stores never passes a range that is not done: a killed runner resumes exactly as with
//! one batch at a time. A batch whose predecessor failed, or did not commit within the
//! lock timeout, rolls back, and the next round starts from it.
//!
//! Ranges are disjoint pages, so the batches never wait for each other's rows: a row
//! version one batch moves into another's pages is new, invisible to the other's
//! statement. Only a statement writing elsewhere (a `split_table` insert of a key both
//! ranges hold) could wait on a worker that waits for it; the lock timeout ends that wait
//! on both sides, and the retry runs alone.
//!
//! How many of the connections a round uses is [`latency`]'s to decide, by what the
//! batches cost the application's commits.
//!
//! [`Options::backfill_workers`]: crate::Options::backfill_workers

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::Client;

use super::latency::{self, Change, WorkerGuard};
use super::{Batch, Done, Pages, Target, Walk};
use crate::error::Result;
use crate::events::Event;
use crate::session::{short_transaction, Options, Session, StepContext};

/// The worker connections of one backfill step; none when batches run one at a time.
pub(super) struct Workers {
    clients: Vec<Client>,
    /// How many batches a round runs, and the connection that probes the commit latency
    /// while they do; `None` with no worker connection.
    guard: Option<(WorkerGuard, Client)>,
    /// The backends of the runner's connection, the workers' and the probe's: the
    /// sessions whose activity is not the application's.
    own: Vec<i32>,
    /// When the last round asked whether the application is active.
    asked: Instant,
    /// The last round's median probe, `Some(None)` when no application was active.
    cost: Option<Option<Duration>>,
}

impl Workers {
    /// Opens `backfill_workers - 1` connections for a heap-page walk, each with the
    /// runner's search path and the session settings a backfill runs under, and one more
    /// that probes the commit latency, first: without a baseline no worker is opened.
    /// Workers make a backfill faster, never possible: one the server refuses (its
    /// `max_connections`, the role's `CONNECTION LIMIT`) is done without, and so are
    /// all of them when the probe's connection is refused.
    pub(super) fn open(session: &mut Session, context: &StepContext, walk: &Walk) -> Result<Workers> {
        let wanted = session.options().backfill_workers.saturating_sub(1) as usize;
        let connect = match session.connector() {
            Some(connect) if wanted > 0 && matches!(walk, Walk::Pages(_)) => connect,
            _ => return Ok(Workers::one_at_a_time()),
        };
        let Ok(mut prober) = connect() else {
            return Ok(Workers::one_at_a_time());
        };
        let Ok(baseline) = WorkerGuard::baseline(&mut prober) else {
            // Unmeasured, batches side by side could cost the application's writes any
            // amount; one at a time costs them least.
            return Ok(Workers::one_at_a_time());
        };
        let search_path: String = session
            .client()
            .query_one("SELECT current_setting('search_path')", &[])
            .map_err(|error| context.failed(error))?
            .get(0);
        let mut own = vec![backend_pid(session.client()), backend_pid(&mut prober)]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| context.failed(error))?;
        let mut clients = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let connect = session.connector().expect("checked above");
            let Ok(mut client) = connect() else { break };
            client
                .query_one(
                    "SELECT set_config('search_path', $1, false), set_config('row_security', 'off', false), \
                            set_config('client_min_messages', 'warning', false)",
                    &[&search_path],
                )
                .map_err(|error| context.failed(error))?;
            own.push(backend_pid(&mut client).map_err(|error| context.failed(error))?);
            clients.push(client);
        }
        if clients.is_empty() {
            return Ok(Workers::one_at_a_time());
        }
        let application = latency::application_active(&mut prober, &own, latency::STARTING_WINDOW)
            .map_err(|error| context.failed(error))?;
        Ok(Workers {
            guard: Some((WorkerGuard::new(clients.len() + 1, baseline, application), prober)),
            clients,
            own,
            asked: Instant::now(),
            cost: None,
        })
    }

    fn one_at_a_time() -> Workers {
        Workers {
            clients: Vec::new(),
            guard: None,
            own: Vec::new(),
            asked: Instant::now(),
            cost: None,
        }
    }

    /// After a round: drops or gives back a worker as the guard decides from the commit
    /// latency probed during the round and whether an application ran, saying so.
    pub(super) fn after_round(&mut self, session: &mut Session, context: &StepContext) -> Result<()> {
        let (Some((guard, _)), Some(cost)) = (&mut self.guard, self.cost.take()) else {
            return Ok(());
        };
        if guard.after_round(cost) != Change::None {
            session.emit(Event::BackfillWorkers {
                migration: &context.plan.id,
                step: context.step,
                running: u32::try_from(guard.running).unwrap_or(u32::MAX),
                commit_latency: cost,
                baseline: guard.baseline_latency(),
            });
        }
        Ok(())
    }

    /// One round: up to one batch of `size` rows per connection on consecutive ranges
    /// from where `pages` stands. Returns what the batches that committed did, in order;
    /// the error of the runner's own batch, if it failed.
    pub(super) fn round<S: AsRef<str> + Sync>(
        &mut self,
        session: &mut Session,
        context: &StepContext,
        batch: &Batch<S>,
        pages: &Pages,
        size: u32,
    ) -> Result<Done> {
        let running = self.guard.as_ref().map_or(1, |(guard, _)| guard.running);
        let ranges = pages.ranges(batch.table, size, batch.key_len, running);
        let first = || Target::Range(&ranges[0].0, ranges[0].1.as_deref());
        let Some((_, prober)) = &mut self.guard else {
            return batch.run(session, context, first());
        };
        let probing = latency::Probing::default();
        let order = CommitOrder::default();
        let options = session.options().clone();
        let (clients, own) = (&mut self.clients, &self.own);
        let window = std::mem::replace(&mut self.asked, Instant::now()).elapsed();
        let (done, cost) = std::thread::scope(|scope| {
            let probes = scope.spawn(|| probing.run(prober, own, window));
            let workers: Vec<_> = ranges[1..]
                .iter()
                .zip(clients.iter_mut())
                .enumerate()
                .map(|(index, ((range, checkpoint), client))| {
                    let (order, options) = (&order, &options);
                    let range = (range.as_str(), checkpoint.as_deref());
                    scope.spawn(move || work(batch, client, context, options, range, order, index + 1))
                })
                .collect();
            let own = batch.run(session, context, first());
            order.settle(0, own.is_ok());
            let done = own.map(|mut done| {
                for worker in workers {
                    // A panicked worker committed nothing, and neither did any after it.
                    let Ok(Some(part)) = worker.join() else { break };
                    done.rows += part.rows;
                    done.held = done.held.max(part.held);
                    done.checkpoint = part.checkpoint;
                }
                done
            });
            probing.stop();
            // A failed probe decides nothing; the batches' own errors are what count.
            (done, probes.join().ok().and_then(Result::ok))
        });
        self.cost = cost;
        done
    }
}

fn backend_pid(client: &mut Client) -> Result<i32, postgres::Error> {
    Ok(client.query_one("SELECT pg_backend_pid()", &[])?.get(0))
}

/// A worker's batch at `position` in the round: written at once, committed after the
/// batch before it. `None` when it rolled back, for any reason: the next round starts
/// from its range on the runner's connection, whose lock policy and errors then apply.
fn work<S: AsRef<str>>(
    batch: &Batch<S>,
    client: &mut Client,
    context: &StepContext,
    options: &Options,
    (range, checkpoint): (&str, Option<&[String]>),
    order: &CommitOrder,
    position: usize,
) -> Option<Done> {
    let mut attempt = || -> Result<Option<Done>, postgres::Error> {
        let mut transaction = short_transaction(client, options)?;
        let (rows, held) = batch.write(&mut transaction, context, options, range)?;
        if !order.committed(position - 1, options.lock_timeout) {
            return Ok(None);
        }
        batch.record(&mut transaction, context, checkpoint, rows)?;
        transaction.commit()?;
        Ok(Some(Done {
            rows,
            lock_retries: 0,
            held,
            checkpoint: checkpoint.map(<[String]>::to_vec),
        }))
    };
    let done = attempt().ok().flatten();
    order.settle(position, done.is_some());
    done
}

/// Which batches of a round committed (`true`) or rolled back (`false`), by position.
#[derive(Default)]
struct CommitOrder {
    settled: Mutex<Vec<Option<bool>>>,
    changed: Condvar,
}

impl CommitOrder {
    fn settle(&self, position: usize, committed: bool) {
        let mut settled = self
            .settled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if settled.len() <= position {
            settled.resize(position + 1, None);
        }
        settled[position] = Some(committed);
        self.changed.notify_all();
    }

    /// Waits at most `patience` for the batch at `position` to settle; whether it committed.
    fn committed(&self, position: usize, patience: Duration) -> bool {
        let settled = self
            .settled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (settled, _) = self
            .changed
            .wait_timeout_while(settled, patience, |settled| {
                settled.get(position).copied().flatten().is_none()
            })
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        settled.get(position).copied().flatten().unwrap_or(false)
    }
}
