//! What the CLI shows while a phase runs: progress bars on a terminal, log lines otherwise,
//! and blocker reports either way.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::events::Event;
use crate::session;

/// Watches a concurrent index build from a connection of its own (the runner's is busy
/// with the build) and reports its phase from `pg_stat_progress_create_index` until
/// stopped: on a spinner on a terminal, as a log line at each change otherwise.
struct IndexWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl IndexWatch {
    fn start(database_url: String, index: &'static str, terminal: bool) -> IndexWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let Ok(mut client) = session::connect(&database_url) else {
                return;
            };
            let spinner = terminal.then(|| {
                let spinner = ProgressBar::new_spinner();
                spinner.enable_steady_tick(Duration::from_millis(200));
                spinner
            });
            let mut last = String::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Some(progress)) = crate::expect::index_build_progress(&mut client, index) {
                    let text = progress.to_string();
                    match &spinner {
                        Some(spinner) => spinner.set_message(text),
                        None if text != last => tracing::info!("{text}"),
                        None => {}
                    }
                    last = progress.to_string();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
        });
        IndexWatch { stop, thread }
    }

    fn finish(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Progress bars on a terminal, log lines otherwise; blocker reports either way.
pub(super) fn progress_observer(database_url: String) -> impl FnMut(&Event<'_>) + Send + 'static {
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let mut index_watch: Option<IndexWatch> = None;
    move |event| match event {
        Event::StepStarted {
            migration,
            phase,
            step,
            ..
        } => {
            tracing::info!("{migration}: {phase}: {}", step.description);
            if let zdm_plan::Action::CreateIndexConcurrently { index, .. } = &step.action {
                index_watch = Some(IndexWatch::start(database_url.clone(), index, terminal));
            }
        }
        Event::BackfillProgress {
            migration,
            rows_done,
            estimate,
            batch_size,
            ..
        } => {
            if terminal {
                let bar = bar.get_or_insert_with(|| backfill_bar(migration, *estimate, *rows_done));
                if *estimate > 0 && *rows_done > bar.length().unwrap_or(0) {
                    bar.set_length(*rows_done);
                }
                bar.set_position(*rows_done);
            } else {
                tracing::info!("{}", backfill_line(migration, *rows_done, *estimate, *batch_size));
            }
        }
        Event::ReplicaLag { .. } | Event::BackfillVacuum { .. } | Event::BackfillWorkers { .. } => {
            log_pacing(event)
        }
        Event::StepFinished { .. } => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            if let Some(watch) = index_watch.take() {
                watch.finish();
            }
        }
        Event::LockWait {
            migration,
            step,
            attempt,
            blockers,
            retry_in,
        } => {
            let who = if blockers.is_empty() {
                "no session holds a conflicting lock any more".to_owned()
            } else {
                blockers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            tracing::warn!(
                "{migration}: \"{}\" timed out waiting for its lock (attempt {attempt}), retrying in {} ms; blocked by {who}",
                step.description,
                retry_in.as_millis()
            );
        }
        _ => {}
    }
}

/// A bar toward the planner's estimate, or a counter when the table was never analyzed and
/// the estimate is 0: a bar to 0 would claim the backfill done from its first batch.
fn backfill_bar(migration: &str, estimate: u64, rows_done: u64) -> ProgressBar {
    let (bar, template) = if estimate > 0 {
        (
            ProgressBar::new(estimate.max(rows_done)),
            "{msg} [{bar:40}] {pos}/{len} rows, {per_sec}, eta {eta}",
        )
    } else {
        (
            ProgressBar::new_spinner(),
            "{msg} {spinner} {pos} rows (total unknown), {per_sec}",
        )
    };
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_message(format!("{migration}: backfill"));
    bar
}

/// The log line of a backfill batch. The planner's estimate is 0 for a table never analyzed
/// (nor indexed since it was filled), which says nothing of its size.
fn backfill_line(migration: &str, rows_done: u64, estimate: u64, batch_size: u32) -> String {
    if estimate == 0 {
        format!(
            "{migration}: backfill: {rows_done} rows so far, of a total unknown until the table is analyzed \
             (batch {batch_size})"
        )
    } else {
        format!("{migration}: backfill: {rows_done} of about {estimate} rows (batch {batch_size})")
    }
}

/// Logs a wait for a replica, or a vacuum between backfill batches.
fn log_pacing(event: &Event<'_>) {
    match event {
        Event::ReplicaLag {
            migration,
            replica,
            bytes,
            waited,
            ..
        } => tracing::warn!("{}", replica_line(migration, replica, *bytes, *waited)),
        Event::BackfillVacuum {
            migration,
            size_before,
            size_after,
            ..
        } => tracing::info!(
            "{migration}: backfill: vacuumed the table between batches ({} MB before, {} MB after)",
            size_before / 1_048_576,
            size_after / 1_048_576
        ),
        Event::BackfillWorkers {
            migration,
            running,
            commit_latency,
            baseline,
            ..
        } => tracing::info!(
            "{}",
            workers_line(migration, *running, *commit_latency, *baseline)
        ),
        _ => {}
    }
}

/// The log line of a heap-page backfill changing how many batches it runs at once.
fn workers_line(
    migration: &str,
    running: u32,
    commit_latency: Option<Duration>,
    baseline: Duration,
) -> String {
    let batches = if running == 1 {
        "1 batch".to_owned()
    } else {
        format!("{running} batches")
    };
    let Some(commit_latency) = commit_latency else {
        return format!("{migration}: backfill: no other session of the database is active; {batches} at a time from now on");
    };
    format!(
        "{migration}: backfill: a commit took {:.1} ms, {:.1} ms before the backfill; {batches} at a time from now on",
        commit_latency.as_secs_f64() * 1000.0,
        baseline.as_secs_f64() * 1000.0
    )
}

/// The log line of a bulk step waiting for a replica.
fn replica_line(migration: &str, replica: &str, bytes: u64, waited: std::time::Duration) -> String {
    format!(
        "{migration}: paused for replica {replica}, {} kB of WAL behind (waiting {} s); \
         resuming when it catches up",
        bytes / 1024,
        waited.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{backfill_line, replica_line, workers_line};

    #[test]
    fn a_change_of_workers_gives_the_commit_latency_that_decided_it() {
        assert_eq!(
            workers_line(
                "m1",
                1,
                Some(Duration::from_micros(6_300)),
                Duration::from_micros(2_000)
            ),
            "m1: backfill: a commit took 6.3 ms, 2.0 ms before the backfill; 1 batch at a time from now on"
        );
        assert_eq!(
            workers_line(
                "m1",
                2,
                Some(Duration::from_micros(2_100)),
                Duration::from_micros(2_000)
            ),
            "m1: backfill: a commit took 2.1 ms, 2.0 ms before the backfill; 2 batches at a time from now on"
        );
        assert_eq!(
            workers_line("m1", 2, None, Duration::from_micros(2_000)),
            "m1: backfill: no other session of the database is active; 2 batches at a time from now on"
        );
    }

    #[test]
    fn a_replica_wait_names_the_replica_and_its_lag() {
        assert_eq!(
            replica_line("m1", "standby1", 5 * 1024 * 1024, std::time::Duration::from_secs(3)),
            "m1: paused for replica standby1, 5120 kB of WAL behind (waiting 3 s); resuming when it catches up"
        );
    }

    #[test]
    fn an_unknown_total_is_shown_as_unknown() {
        assert_eq!(
            backfill_line("m1", 1000, 0, 1000),
            "m1: backfill: 1000 rows so far, of a total unknown until the table is analyzed (batch 1000)"
        );
        assert_eq!(
            backfill_line("m1", 1000, 3000, 500),
            "m1: backfill: 1000 of about 3000 rows (batch 500)"
        );
    }
}
