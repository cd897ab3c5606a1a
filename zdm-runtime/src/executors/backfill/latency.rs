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

use std::sync::atomic::{AtomicBool, Ordering};
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
/// The pause between probes during a round: a few probes in a 50 ms batch, without a
/// probe's own commits becoming a load of their own.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
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

/// Probes taken while a round runs, until the round is over.
#[derive(Default)]
pub(super) struct Probing {
    over: AtomicBool,
}

impl Probing {
    /// Probes on `client` until [`Probing::stop`], at least once; the median probe.
    pub(super) fn run(&self, client: &mut Client) -> Result<Duration, postgres::Error> {
        let mut probes = Vec::new();
        loop {
            probes.push(probe(client)?);
            if self.over.load(Ordering::Acquire) {
                return Ok(median(&probes));
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    }

    pub(super) fn stop(&self) {
        self.over.store(true, Ordering::Release);
    }
}

/// The number of batches a round runs, as the probes decide it.
pub(super) struct WorkerGuard {
    baseline: Duration,
    /// Batches per round: at least 1, at most `most`.
    pub(super) running: usize,
    most: usize,
    /// Probes since `running` last changed, newest last.
    recent: Vec<Duration>,
}

/// What a probe changed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    Fewer,
    More,
    None,
}

impl WorkerGuard {
    /// A guard for up to `most` batches at once, against a commit latency of `baseline`.
    pub(super) fn new(most: usize, baseline: Duration) -> WorkerGuard {
        WorkerGuard {
            baseline,
            running: most.max(1),
            most: most.max(1),
            recent: Vec::new(),
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

    /// Takes the median probe of a round; whether the next round runs fewer or more batches.
    pub(super) fn after_round(&mut self, latency: Duration) -> Change {
        self.recent.push(latency);
        let slowed = self.baseline.mul_f64(SLOWED).max(self.baseline + NOISE);
        let calm = self.baseline.mul_f64(CALM).max(self.baseline + NOISE);
        let slow = self.last(SLOW_WINDOW).is_some_and(|last| median(last) > slowed);
        if self.running > 1 && slow {
            self.running -= 1;
            self.recent.clear();
            return Change::Fewer;
        }
        let calm_throughout = self
            .last(CALM_ROUNDS)
            .is_some_and(|last| last.iter().all(|probe| *probe <= calm));
        if self.running < self.most && calm_throughout {
            self.running += 1;
            self.recent.clear();
            return Change::More;
        }
        // Only the last rounds count toward either decision.
        if self.recent.len() > CALM_ROUNDS {
            self.recent.remove(0);
        }
        Change::None
    }

    /// The last `rounds` probes, when there have been that many since the last change.
    fn last(&self, rounds: usize) -> Option<&[Duration]> {
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

    use super::{Change, WorkerGuard};

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn three_slow_rounds_drop_a_worker_and_one_slow_commit_does_not() {
        let mut guard = WorkerGuard::new(2, MS(2));
        assert_eq!(guard.after_round(MS(30)), Change::None);
        assert_eq!(guard.after_round(MS(2)), Change::None);
        assert_eq!(guard.after_round(MS(3)), Change::None);
        assert_eq!(guard.running, 2);
        assert_eq!(guard.after_round(MS(5)), Change::None);
        // The median of the last three is now 5 ms, above twice 2 ms.
        assert_eq!(guard.after_round(MS(6)), Change::Fewer);
        assert_eq!(guard.running, 1);
        // One batch at a time is the least: nothing more to drop.
        for _ in 0..5 {
            assert_eq!(guard.after_round(MS(50)), Change::None);
        }
        assert_eq!(guard.running, 1);
    }

    #[test]
    fn twenty_calm_rounds_give_a_worker_back() {
        let mut guard = WorkerGuard::new(2, MS(2));
        for _ in 0..3 {
            guard.after_round(MS(10));
        }
        assert_eq!(guard.running, 1);
        for _ in 0..19 {
            assert_eq!(guard.after_round(MS(2)), Change::None);
        }
        // A round that is not calm starts the count again.
        assert_eq!(guard.after_round(MS(4)), Change::None);
        for _ in 0..19 {
            assert_eq!(guard.after_round(MS(2)), Change::None);
        }
        assert_eq!(guard.after_round(MS(2)), Change::More);
        assert_eq!(guard.running, 2);
        // Never more than configured.
        for _ in 0..40 {
            assert_ne!(guard.after_round(MS(1)), Change::More);
        }
    }

    #[test]
    fn a_baseline_under_a_millisecond_is_not_judged_by_its_ratio() {
        // Sub-millisecond commits (no fsync, say) double from noise alone.
        let mut guard = WorkerGuard::new(2, Duration::from_micros(100));
        for _ in 0..3 {
            assert_eq!(guard.after_round(Duration::from_micros(400)), Change::None);
        }
        assert_eq!(guard.running, 2);
        for _ in 0..3 {
            guard.after_round(Duration::from_micros(900));
        }
        assert_eq!(guard.running, 1);
    }
}
