//! How many heap-page batches may run at once, by what they cost the application: the
//! commit latency of a write transaction, measured before the backfill and while every
//! round runs, on a connection of its own. Batches side by side take cores the
//! application's writes wait for, on a small server far more than on a large one, so the
//! number is measured on the server the backfill runs on, not assumed: a worker is dropped
//! while commits take more than twice their time before the backfill, and given back once
//! they have stayed near it.
//!
//! The probes run during the round, not between rounds: between rounds no batch takes a
//! core, and a probe there sees only the WAL the batches left to flush.
//!
//! A slow commit costs only a session that commits. A round during which no other session
//! of the database ran a statement slowed nobody's write, whatever the probes say: on a
//! small server two batches slow any commit, the probe's own included, and judging those
//! rounds would give up the workers in a maintenance window with no application running.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::Client;

/// Probes whose median is the commit latency before the backfill.
const BASELINE_PROBES: usize = 5;
/// Rounds whose median probe decides whether to drop a worker: one slow commit (a
/// checkpoint, another session's burst) is not the backfill's doing.
const SLOW_WINDOW: usize = 3;
/// The bound on the application's write latency during a backfill.
const SLOWED: f64 = 2.0;
/// Commits this close to the baseline, round after round, give a dropped worker back.
const CALM: f64 = 1.25;
const CALM_ROUNDS: usize = 20;
/// A worker given back and dropped again doubles the calm rounds the next one waits for,
/// up to this many: each try costs the application the slow rounds that end it.
const MOST_CALM_ROUNDS: usize = 640;
/// The pause between probes during a round: a few probes in a 50 ms batch, without a
/// probe's own commits becoming a load of their own.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// How far back a session's last statement makes it a running application when the
/// backfill starts: a pooled application between requests stays idle for a while.
pub(super) const STARTING_WINDOW: Duration = Duration::from_secs(1);
/// Latencies this close are the same: a loopback round trip varies by about this much.
const NOISE: Duration = Duration::from_micros(500);

/// One probe: a transaction that writes WAL and commits, so it waits for its commit
/// record to reach the disk (under the session's `synchronous_commit`), as an application
/// write does, behind whatever WAL the batches have written. A transaction that only takes
/// a transaction id writes no WAL of its own and commits without waiting for the disk. A
/// transactional logical message writes one record, touches no table, and any role may
/// emit it; a logical decoding consumer that asks for messages sees it, prefixed `zdm`.
pub(super) fn probe(client: &mut Client) -> Result<Duration, postgres::Error> {
    let started = Instant::now();
    client.batch_execute("SELECT pg_logical_emit_message(true, 'zdm', '')")?;
    Ok(started.elapsed())
}

/// Whether a session of the database other than the backfill's own (`own`, their
/// `pg_backend_pid()`) runs a statement, holds a transaction open, or has finished a
/// statement within `window`. A session of another role whose state this role may not
/// read (`pg_read_all_stats` may) counts as active: unseen, it may be writing.
pub(super) fn application_active(
    client: &mut Client,
    own: &[i32],
    window: Duration,
) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT FROM pg_stat_activity \
                        WHERE datname = current_database() AND backend_type = 'client backend' \
                          AND pid <> ALL($1) \
                          AND (state IS DISTINCT FROM 'idle' \
                               OR state_change > clock_timestamp() - make_interval(secs => $2)))",
        &[&own, &window.as_secs_f64()],
    )?;
    Ok(row.get(0))
}

/// Probes taken while a round runs, until the round is over.
#[derive(Default)]
pub(super) struct Probing {
    over: Mutex<bool>,
    ended: Condvar,
}

impl Probing {
    /// When a session other than `own` was active within `window` (since the last round
    /// asked), probes on `client` until [`Probing::stop`], at least once: the median
    /// probe. `None` otherwise, without a probe: a probe's commit would only make the
    /// batches' WAL reach the disk in smaller pieces, for no application to measure.
    pub(super) fn run(
        &self,
        client: &mut Client,
        own: &[i32],
        window: Duration,
    ) -> Result<Option<Duration>, postgres::Error> {
        if !application_active(client, own, window)? {
            return Ok(None);
        }
        let mut probes = Vec::new();
        loop {
            probes.push(probe(client)?);
            // The pause ends the moment the round does: the next round starts only when
            // this returns, so a pause slept out would idle every batch that long.
            let over = self.over.lock().unwrap_or_else(PoisonError::into_inner);
            let (over, _) = self
                .ended
                .wait_timeout_while(over, PROBE_INTERVAL, |over| !*over)
                .unwrap_or_else(PoisonError::into_inner);
            if *over {
                return Ok(Some(median(&probes)));
            }
        }
    }

    pub(super) fn stop(&self) {
        *self.over.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.ended.notify_all();
    }
}

/// The number of batches a round runs, as the probes decide it.
pub(super) struct WorkerGuard {
    baseline: Duration,
    /// Batches per round: at least 1, at most `most`.
    pub(super) running: usize,
    most: usize,
    /// Rounds since `running` last changed, newest last: the median probe of each round
    /// with an application to slow, `None` for a round without.
    recent: Vec<Option<Duration>>,
    /// Calm rounds before a worker is given back.
    calm_rounds: usize,
    /// The last change, and the rounds since.
    last_change: (Change, usize),
}

/// What a probe changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Fewer,
    More,
    None,
}

impl WorkerGuard {
    /// A guard for up to `most` batches at once, against a commit latency of `baseline`.
    /// Beside a running application it starts with one batch and adds the others as the
    /// commits stay calm: on a small server, the rounds it would take to find two batches
    /// too many are rounds the application's writes wait. With no application it starts
    /// with all of them.
    pub(super) fn new(most: usize, baseline: Duration, application_running: bool) -> WorkerGuard {
        WorkerGuard {
            baseline,
            running: if application_running { 1 } else { most.max(1) },
            most: most.max(1),
            recent: Vec::new(),
            calm_rounds: CALM_ROUNDS,
            last_change: (Change::None, 0),
        }
    }

    /// The median of [`BASELINE_PROBES`] probes on `client`.
    pub(super) fn baseline(client: &mut Client) -> Result<Duration, postgres::Error> {
        let mut probes = (0..BASELINE_PROBES)
            .map(|_| probe(client))
            .collect::<Result<Vec<_>, _>>()?;
        probes.sort();
        Ok(probes[BASELINE_PROBES / 2])
    }

    pub(super) fn baseline_latency(&self) -> Duration {
        self.baseline
    }

    /// Takes a round's median probe, `None` for a round with no application running,
    /// which counts as calm; whether the next round runs fewer or more batches.
    pub(super) fn after_round(&mut self, latency: Option<Duration>) -> Change {
        self.recent.push(latency);
        self.last_change.1 += 1;
        let slowed = self.baseline.mul_f64(SLOWED).max(self.baseline + NOISE);
        let calm = self.baseline.mul_f64(CALM).max(self.baseline + NOISE);
        let slow = self
            .last(SLOW_WINDOW)
            .and_then(|last| last.iter().copied().collect::<Option<Vec<_>>>())
            .is_some_and(|last| median(&last) > slowed);
        if self.running > 1 && slow {
            self.running -= 1;
            // A worker given back and soon too many again: the calm did not last.
            if self.last_change.0 == Change::More && self.last_change.1 <= CALM_ROUNDS {
                self.calm_rounds = (self.calm_rounds * 2).min(MOST_CALM_ROUNDS);
            }
            return self.changed(Change::Fewer);
        }
        let calm_throughout = self
            .last(self.calm_rounds)
            .is_some_and(|last| last.iter().flatten().all(|probe| *probe <= calm));
        if self.running < self.most && calm_throughout {
            self.running += 1;
            return self.changed(Change::More);
        }
        // Only the last rounds count toward either decision.
        if self.recent.len() > self.calm_rounds {
            self.recent.remove(0);
        }
        Change::None
    }

    fn changed(&mut self, change: Change) -> Change {
        self.recent.clear();
        self.last_change = (change, 0);
        change
    }

    /// The last `rounds` probes, when there have been that many since the last change.
    fn last(&self, rounds: usize) -> Option<&[Option<Duration>]> {
        self.recent
            .len()
            .checked_sub(rounds)
            .map(|from| &self.recent[from..])
    }
}

fn median(probes: &[Duration]) -> Duration {
    let mut sorted = probes.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{application_active, Change, WorkerGuard};
    use crate::testing::FreshDatabase;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A round while another session of the database was active.
    fn busy(latency: Duration) -> Option<Duration> {
        Some(latency)
    }

    /// A round while no other session was: nothing probed.
    const ALONE: Option<Duration> = None;

    #[test]
    fn three_slow_rounds_drop_a_worker_and_one_slow_commit_does_not() {
        let mut guard = WorkerGuard::new(2, MS(2), false);
        assert_eq!(guard.after_round(busy(MS(30))), Change::None);
        assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        assert_eq!(guard.after_round(busy(MS(3))), Change::None);
        assert_eq!(guard.running, 2);
        assert_eq!(guard.after_round(busy(MS(5))), Change::None);
        // The median of the last three is now 5 ms, above twice 2 ms.
        assert_eq!(guard.after_round(busy(MS(6))), Change::Fewer);
        assert_eq!(guard.running, 1);
        // One batch at a time is the least: nothing more to drop.
        for _ in 0..5 {
            assert_eq!(guard.after_round(busy(MS(50))), Change::None);
        }
        assert_eq!(guard.running, 1);
    }

    #[test]
    fn twenty_calm_rounds_give_a_worker_back() {
        let mut guard = WorkerGuard::new(2, MS(2), false);
        for _ in 0..3 {
            guard.after_round(busy(MS(10)));
        }
        assert_eq!(guard.running, 1);
        for _ in 0..19 {
            assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        }
        // A round that is not calm starts the count again.
        assert_eq!(guard.after_round(busy(MS(4))), Change::None);
        for _ in 0..19 {
            assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        }
        assert_eq!(guard.after_round(busy(MS(2))), Change::More);
        assert_eq!(guard.running, 2);
        // Never more than configured.
        for _ in 0..40 {
            assert_ne!(guard.after_round(busy(MS(1))), Change::More);
        }
    }

    #[test]
    fn a_baseline_under_a_millisecond_is_not_judged_by_its_ratio() {
        // Sub-millisecond commits (no fsync, say) double from noise alone.
        let mut guard = WorkerGuard::new(2, Duration::from_micros(100), false);
        for _ in 0..3 {
            assert_eq!(guard.after_round(busy(Duration::from_micros(400))), Change::None);
        }
        assert_eq!(guard.running, 2);
        for _ in 0..3 {
            guard.after_round(busy(Duration::from_micros(900)));
        }
        assert_eq!(guard.running, 1);
    }

    #[test]
    fn slow_rounds_with_no_application_running_keep_the_workers() {
        let mut guard = WorkerGuard::new(2, MS(2), false);
        for _ in 0..10 {
            assert_eq!(guard.after_round(ALONE), Change::None);
        }
        assert_eq!(guard.running, 2);
        // Two slow rounds with an application and one without are not three slow rounds.
        guard.after_round(busy(MS(10)));
        guard.after_round(busy(MS(10)));
        assert_eq!(guard.after_round(ALONE), Change::None);
        assert_eq!(guard.after_round(busy(MS(10))), Change::None);
        assert_eq!(guard.after_round(busy(MS(10))), Change::None);
        assert_eq!(guard.after_round(busy(MS(10))), Change::Fewer);
        // Once the application stops, twenty rounds give the worker back.
        for _ in 0..19 {
            assert_eq!(guard.after_round(ALONE), Change::None);
        }
        assert_eq!(guard.after_round(ALONE), Change::More);
        assert_eq!(guard.running, 2);
    }

    #[test]
    fn a_worker_given_back_and_dropped_again_waits_twice_as_long_the_next_time() {
        let mut guard = WorkerGuard::new(2, MS(2), true);
        for _ in 0..19 {
            guard.after_round(busy(MS(2)));
        }
        assert_eq!(guard.after_round(busy(MS(2))), Change::More);
        for _ in 0..2 {
            guard.after_round(busy(MS(10)));
        }
        assert_eq!(guard.after_round(busy(MS(10))), Change::Fewer);
        for _ in 0..39 {
            assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        }
        assert_eq!(guard.after_round(busy(MS(2))), Change::More);
        // A worker that stays is no reason to wait longer: dropped much later, by slow
        // rounds after calm ones, it comes back after as many calm rounds as before.
        for _ in 0..30 {
            guard.after_round(busy(MS(2)));
        }
        for _ in 0..3 {
            guard.after_round(busy(MS(10)));
        }
        assert_eq!(guard.running, 1);
        for _ in 0..39 {
            assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        }
        assert_eq!(guard.after_round(busy(MS(2))), Change::More);
    }

    #[test]
    fn beside_an_application_the_guard_starts_with_one_batch() {
        let mut guard = WorkerGuard::new(3, MS(2), true);
        assert_eq!(guard.running, 1);
        for _ in 0..19 {
            assert_eq!(guard.after_round(busy(MS(2))), Change::None);
        }
        assert_eq!(guard.after_round(busy(MS(2))), Change::More);
        assert_eq!(guard.running, 2);
        assert_eq!(WorkerGuard::new(3, MS(2), false).running, 3);
    }

    /// Whether anyone but `own` is active, asked until it says no, for at most five
    /// seconds: a connection just closed leaves its backend behind for a moment.
    fn quiet_within_seconds(client: &mut postgres::Client, own: &[i32]) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while application_active(client, own, MS(100)).unwrap() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(MS(50));
        }
        true
    }

    fn pid(client: &mut postgres::Client) -> i32 {
        client.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
    }

    #[test]
    fn a_session_in_a_transaction_or_just_finished_is_an_application_and_an_idle_one_is_not() {
        let db = FreshDatabase::create("latency_application_active").unwrap();
        let mut ours = db.connect().unwrap();
        let mut other = db.connect().unwrap();
        let own = [pid(&mut ours)];
        let both = [own[0], pid(&mut other)];
        std::thread::sleep(MS(150));
        assert!(quiet_within_seconds(&mut ours, &own));

        let mut transaction = other.transaction().unwrap();
        transaction.execute("SELECT 1", &[]).unwrap();
        // Idle in a transaction, for longer than the window.
        std::thread::sleep(MS(150));
        assert!(application_active(&mut ours, &own, MS(100)).unwrap());
        assert!(!application_active(&mut ours, &both, MS(100)).unwrap());
        transaction.rollback().unwrap();

        // Idle, but it ran a statement within the window.
        assert!(application_active(&mut ours, &own, Duration::from_secs(60)).unwrap());
        std::thread::sleep(MS(150));
        assert!(!application_active(&mut ours, &own, MS(100)).unwrap());
    }
}
