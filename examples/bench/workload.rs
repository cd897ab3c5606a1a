//! The application's side: single-row writes with and without the sync trigger, and the
//! latency of old- and new-version writers while every phase runs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zdm_runtime::{BackfillRoute, BatchSize, Event, Lock, Options, Phase, Runner};

use super::backfill::{make_table, median, settle, Shape};
use super::{Args, Failure};

/// Single-row UPDATEs and INSERTs from `threads` clients for `seconds`; writes per second.
fn write_throughput(url: &str, threads: usize, seconds: f64, offset: i64) -> Result<f64, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (stop, done, url) = (stop.clone(), done.clone(), url.to_owned());
            std::thread::spawn(move || -> Result<(), Failure> {
                let mut client = zdm_runtime::connect(&url)?;
                let update = client.prepare("UPDATE bench_writes SET name = $2 WHERE id = $1")?;
                let insert = client.prepare("INSERT INTO bench_writes (id, email) VALUES ($1, $2)")?;
                let mut n: i64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = (n * 7919 + thread as i64) % 100_000 + 1;
                    client.execute(&update, &[&id, &format!("renamed {n}")])?;
                    let new_id = offset + (thread as i64) * 100_000_000 + n;
                    client.execute(&insert, &[&new_id, &format!("New{new_id}@X")])?;
                    done.fetch_add(2, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().map_err(|_| "a writer thread panicked")??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / seconds)
}

pub(crate) struct Triggers {
    pub(crate) without: f64,
    pub(crate) with: f64,
}

pub(crate) fn trigger_overhead(url: &str, args: &Args) -> Result<Triggers, Failure> {
    let mut client = zdm_runtime::connect(url)?;
    make_table(&mut client, "bench_writes", 100_000, Shape::Users)?;
    let mut runner = Runner::connect(url, Options::default())?;
    runner.run_to(&super::BenchTrigger, Phase::Backfill)?;
    drop(runner);
    // The sync triggers as installed, to drop and re-create between measurements.
    let triggers: Vec<(String, String)> = client
        .query(
            "SELECT quote_ident(tgname), pg_get_triggerdef(oid) FROM pg_trigger \
             WHERE tgrelid = 'bench_writes'::regclass AND NOT tgisinternal",
            &[],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    // Without and with in turn, `--repeat` times, medians compared.
    let (mut without, mut with) = (vec![], vec![]);
    for round in 0..args.repeat.max(1) as i64 {
        for (name, _) in &triggers {
            client.batch_execute(&format!("DROP TRIGGER {name} ON bench_writes"))?;
        }
        settle(&mut client, "bench_writes")?;
        without.push(write_throughput(
            url,
            args.threads,
            args.seconds,
            (2 * round + 1) * 1_000_000_000,
        )?);
        for (_, definition) in &triggers {
            client.batch_execute(definition)?;
        }
        settle(&mut client, "bench_writes")?;
        with.push(write_throughput(
            url,
            args.threads,
            args.seconds,
            (2 * round + 2) * 1_000_000_000,
        )?);
    }
    Ok(Triggers {
        without: median(without),
        with: median(with),
    })
}

#[derive(Default, Clone)]
pub(crate) struct Latencies {
    pub(crate) samples: Vec<Duration>,
    pub(crate) errors: usize,
}

impl Latencies {
    pub(crate) fn percentile(&self, fraction: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
    }
}

pub(crate) struct PhaseAvailability {
    pub(crate) phase: &'static str,
    pub(crate) latencies: Latencies,
    pub(crate) took: Duration,
}

pub(crate) struct Availability {
    pub(crate) baseline: Latencies,
    pub(crate) phases: Vec<PhaseAvailability>,
    pub(crate) max_access_exclusive: Duration,
    /// Per slot (0 = baseline, then each phase): the longest a workload write was seen
    /// waiting for a lock, sampled every few milliseconds from `pg_stat_activity`. What
    /// the migration's locks cost, apart from the machine's scheduling.
    pub(crate) longest_lock_wait: Vec<Duration>,
    /// Batches per round after each change the backfill's latency guard made, in order.
    pub(crate) worker_changes: Vec<u32>,
}

/// Old- and new-version clients write while every phase runs on a table of `rows` rows.
pub(crate) fn availability(url: &str, args: &Args) -> Result<Availability, Failure> {
    let rows = args.availability_rows.unwrap_or(args.rows.min(1_000_000));
    let mut client = zdm_runtime::connect(url)?;
    make_table(&mut client, "bench_live", rows, Shape::Users)?;
    let current: Arc<Mutex<Option<usize>>> = Arc::new(Mutex::new(None));
    let recorded: Arc<Mutex<Vec<Latencies>>> = Arc::new(Mutex::new(vec![Latencies::default(); 5]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..args.threads)
        .map(|thread| {
            let (current, recorded, stop, url) = (current.clone(), recorded.clone(), stop.clone(), url.to_owned());
            std::thread::spawn(move || -> Result<(), Failure> {
                let mut client = zdm_runtime::connect(&url)?;
                client.batch_execute("SET application_name = 'zdm_bench_workload'")?;
                let new_version = thread % 2 == 1;
                let mut n: i64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let slot = match *current.lock().unwrap() {
                        Some(slot) => slot,
                        None => {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    };
                    let id = (n * 7919 + thread as i64 * 13) % rows + 1;
                    let new_id = rows + 1 + thread as i64 * 100_000_000 + n;
                    let started = Instant::now();
                    // The new version writes the new column once it exists (slot 2 = sync).
                    let outcome = if new_version && slot >= 2 {
                        client
                            .execute(
                                "INSERT INTO bench_live (id, email, email_lower) VALUES ($1, $2, lower($2))",
                                &[&new_id, &format!("N{new_id}@X")],
                            )
                            .and_then(|_| {
                                client.execute("UPDATE bench_live SET name = 'n', email_lower = lower(email) WHERE id = $1", &[&id])
                            })
                    } else if slot == 4 {
                        // Contract runs once no old version remains.
                        client
                            .execute(
                                "INSERT INTO bench_live (id, email, email_lower) VALUES ($1, $2, lower($2))",
                                &[&new_id, &format!("C{new_id}@X")],
                            )
                            .and_then(|_| client.query("SELECT email_lower FROM bench_live WHERE id = $1", &[&id]).map(|_| 1))
                    } else {
                        client
                            .execute("INSERT INTO bench_live (id, email) VALUES ($1, $2)", &[&new_id, &format!("O{new_id}@X")])
                            .and_then(|_| client.execute("UPDATE bench_live SET name = 'o' WHERE id = $1", &[&id]))
                    };
                    let took = started.elapsed();
                    let mut recorded = recorded.lock().unwrap();
                    match outcome {
                        Ok(_) => recorded[slot].samples.push(took),
                        Err(error) => {
                            recorded[slot].errors += 1;
                            if recorded[slot].errors <= 3 {
                                eprintln!("workload error in slot {slot}: {error}");
                            }
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();

    let monitor = {
        let (current, stop, url) = (current.clone(), stop.clone(), url.to_owned());
        std::thread::spawn(move || lock_waits(&url, &current, &stop))
    };
    let baseline_time = Duration::from_secs_f64(args.seconds);
    *current.lock().unwrap() = Some(0);
    std::thread::sleep(baseline_time);

    let mut runner = Runner::connect(url, availability_options(args))?;
    let access_exclusive = Arc::new(Mutex::new((None::<Instant>, Duration::ZERO)));
    let watcher = access_exclusive.clone();
    let worker_changes = Arc::new(Mutex::new(Vec::new()));
    let changes = worker_changes.clone();
    runner.observe(move |event| {
        let mut state = watcher.lock().unwrap();
        match event {
            Event::BackfillWorkers { running, .. } => changes.lock().unwrap().push(*running),
            Event::StepStarted { step, .. } if step.lock == Lock::AccessExclusive => {
                state.0 = Some(Instant::now())
            }
            Event::StepFinished { .. } => {
                if let Some(started) = state.0.take() {
                    state.1 = state.1.max(started.elapsed());
                }
            }
            _ => {}
        }
    });
    let mut phases = Vec::new();
    for (slot, phase) in Phase::ALL.into_iter().enumerate() {
        *current.lock().unwrap() = Some(slot + 1);
        let started = Instant::now();
        runner.run(&super::BenchAvailable, phase)?;
        // Keep the workload on the phase's slot a little after it ends.
        std::thread::sleep(Duration::from_millis(200));
        phases.push((phase.name(), slot + 1, started.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    let longest_lock_wait = monitor.join().map_err(|_| "the lock monitor panicked")??;
    for handle in handles {
        handle.join().map_err(|_| "a workload thread panicked")??;
    }
    let recorded = recorded.lock().unwrap().clone();
    let max_access_exclusive = access_exclusive.lock().unwrap().1;
    let worker_changes = worker_changes.lock().unwrap().clone();
    Ok(Availability {
        baseline: recorded[0].clone(),
        phases: phases
            .into_iter()
            .map(|(phase, slot, took)| PhaseAvailability {
                phase,
                latencies: recorded[slot].clone(),
                took,
            })
            .collect(),
        max_access_exclusive,
        longest_lock_wait,
        worker_changes,
    })
}

/// The options of the availability run's migration: the defaults, or the batch target,
/// workers and route asked for.
pub(crate) fn availability_options(args: &Args) -> Options {
    let mut options = Options::default();
    if let Some(ms) = args.batch_ms {
        options.batch = BatchSize::Target(Duration::from_millis(ms));
    }
    if let Some(workers) = args.workers {
        options.backfill_workers = workers;
    }
    if args.primary_key {
        options.route = BackfillRoute::PrimaryKey;
    }
    options
}

/// Samples the workload's lock waits until `stop`: the longest per slot.
fn lock_waits(
    url: &str,
    current: &Mutex<Option<usize>>,
    stop: &AtomicBool,
) -> Result<Vec<Duration>, Failure> {
    let mut client = zdm_runtime::connect(url)?;
    let sample = client.prepare(
        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)::float8 \
         FROM pg_stat_activity WHERE application_name = 'zdm_bench_workload' AND wait_event_type = 'Lock'",
    )?;
    let mut longest = vec![Duration::ZERO; 5];
    while !stop.load(Ordering::Relaxed) {
        let seconds: f64 = client.query_one(&sample, &[])?.get(0);
        if let Some(slot) = *current.lock().unwrap() {
            longest[slot] = longest[slot].max(Duration::from_secs_f64(seconds.max(0.0)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(longest)
}
