//! Benchmarks: backfill speed, trigger overhead and availability under load, each printed as a
//! ratio against the physical limit measured in the same run, so a shared machine's noise
//! cancels out.
//!
//! ```sh
//! cargo run --release --example bench -- --rows 1000000
//! cargo run --release --example bench -- --rows 100000 --json
//! ```
//!
//! It works in a database of its own, `zdm_bench` (dropped and re-created), on the server at
//! `DATABASE_URL`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use postgres::Client;
use zdm_runtime::{zero_downtime, BackfillRoute, Event, Lock, Migration, Options, Phase, Runner};

#[derive(Debug, Parser)]
#[command(about = "zdm benchmarks: backfill, trigger overhead, availability, compile cost")]
struct Args {
    /// Rows in the backfilled tables.
    #[arg(long, default_value_t = 100_000)]
    rows: i64,
    /// Rows of the table the availability workload runs against.
    #[arg(long)]
    availability_rows: Option<i64>,
    /// Client threads of the write and availability workloads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Seconds each write-throughput measurement runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// How many times each backfill method runs; the medians are compared.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Skip the seed's loop above this many rows (it re-scans for NULLs on every batch).
    #[arg(long, default_value_t = 4_000_000)]
    seed_loop_max_rows: i64,
    /// Also measure the compile cost of 100 declarations (needs a few minutes).
    #[arg(long)]
    compile: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Only the backfill figures: no trigger overhead, no availability run.
    #[arg(long)]
    backfill_only: bool,
}

/// The derived column of the backfill benchmark.
#[zero_downtime(
    id = "bench_email_lower",
    add_column(
        table = "bench_zdm",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)"
    )
)]
pub struct BenchEmailLower;

/// A renamed column: the backfill copies it.
#[zero_downtime(
    id = "bench_rename",
    rename_column(table = "bench_rename", from = "email", to = "contact")
)]
pub struct BenchRename;

/// A constant default: no backfill, no rewrite.
#[zero_downtime(
    id = "bench_constant",
    add_column(
        table = "bench_zdm",
        column = "flag",
        ty = "boolean",
        default = "false",
        not_null
    )
)]
pub struct BenchConstant;

/// The migration the availability workload runs through.
#[zero_downtime(
    id = "bench_available",
    add_column(
        table = "bench_live",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
pub struct BenchAvailable;

/// The trigger of the write-overhead benchmark.
#[zero_downtime(
    id = "bench_trigger",
    add_column(
        table = "bench_writes",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)"
    )
)]
pub struct BenchTrigger;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match error
                .downcast_ref::<postgres::Error>()
                .and_then(postgres::Error::as_db_error)
            {
                Some(db) => eprintln!("error: {}", db.message()),
                None => eprintln!("error: {error}"),
            }
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn bench_url() -> Result<String, Failure> {
    let base = zdm_runtime::database_url();
    let mut admin = zdm_runtime::connect(&base)?;
    // Two calls: a multi-statement string runs as one transaction, and CREATE DATABASE
    // cannot run inside one.
    admin.batch_execute("DROP DATABASE IF EXISTS zdm_bench WITH (FORCE)")?;
    admin.batch_execute("CREATE DATABASE zdm_bench")?;
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url.to_owned(), format!("?{query}")),
        None => (base.clone(), String::new()),
    };
    let authority = without_query.find("://").map_or(0, |at| at + 3);
    let root = match without_query[authority..].find('/') {
        Some(slash) => without_query[..authority + slash].to_owned(),
        None => without_query,
    };
    Ok(format!("{root}/zdm_bench{query}"))
}

/// A fresh table of `rows` rows, vacuumed and checkpointed so that every method starts from
/// the same physical state.
fn make_table(client: &mut Client, name: &str, rows: i64) -> Result<(), Failure> {
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {name};
         CREATE TABLE {name} (id bigint PRIMARY KEY, email text NOT NULL, name text);
         INSERT INTO {name} SELECT g, 'User' || g || '@Example.COM', 'name ' || g FROM generate_series(1, {rows}) g;"
    ))?;
    settle(client, name)
}

/// VACUUM (its own statement: it cannot run in the implicit transaction of a multi-statement
/// string), ANALYZE and CHECKPOINT, so that dirty pages of earlier work are not flushed
/// during the next measurement.
fn settle(client: &mut Client, table: &str) -> Result<(), Failure> {
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    client.batch_execute("CHECKPOINT")?;
    Ok(())
}

fn rate(rows: i64, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64().max(1e-9)
}

/// One method's run: its speed, the WAL it wrote and the table's size after it.
#[derive(Clone, Copy, Default)]
struct Cost {
    rows_per_s: f64,
    wal_bytes: f64,
    /// The table's size after, over its size before.
    size_ratio: f64,
}

/// WAL position and table size before a method runs.
fn mark(client: &mut Client, table: &str) -> Result<(String, i64), Failure> {
    let row = client.query_one(
        "SELECT pg_current_wal_lsn()::text, pg_table_size(to_regclass($1))",
        &[&table],
    )?;
    Ok((row.get(0), row.get(1)))
}

fn cost(
    client: &mut Client,
    table: &str,
    before: &(String, i64),
    rows: i64,
    took: Duration,
) -> Result<Cost, Failure> {
    let row = client.query_one(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $2::text::pg_lsn)::float8, \
                pg_table_size(to_regclass($1))::float8",
        &[&table, &before.0],
    )?;
    Ok(Cost {
        rows_per_s: rate(rows, took),
        wal_bytes: row.get(0),
        size_ratio: row.get::<_, f64>(1) / before.1.max(1) as f64,
    })
}

/// Medians of each figure.
fn median_cost(costs: &[Cost]) -> Cost {
    Cost {
        rows_per_s: median(costs.iter().map(|cost| cost.rows_per_s).collect()),
        wal_bytes: median(costs.iter().map(|cost| cost.wal_bytes).collect()),
        size_ratio: median(costs.iter().map(|cost| cost.size_ratio).collect()),
    }
}

/// The zdm variants measured, each against the plain UPDATE: what each change bought.
const VARIANTS: [(&str, BackfillRoute, u64); 4] = [
    ("heap pages, no vacuum", BackfillRoute::HeapPages, 0),
    ("heap pages, vacuum", BackfillRoute::HeapPages, 50_000),
    ("primary key, no vacuum", BackfillRoute::PrimaryKey, 0),
    ("primary key, vacuum (default)", BackfillRoute::PrimaryKey, 50_000),
];

struct Backfill {
    update: Cost,
    zdm: Cost,
    variants: Vec<Cost>,
    copy_update_rows_per_s: f64,
    rename_rows_per_s: f64,
    seed_rows_per_s: Option<f64>,
    constant_rows_written: u64,
    constant_rewrote_table: bool,
}

fn backfill(url: &str, args: &Args) -> Result<Backfill, Failure> {
    let mut client = zdm_runtime::connect(url)?;
    let rows = args.rows;

    // The physical limit: one UPDATE over the whole table, the column already added.
    let plain = |client: &mut Client, column: &str, value: &str| -> Result<Cost, Failure> {
        make_table(client, "bench_plain", rows)?;
        client.batch_execute(&format!("ALTER TABLE bench_plain ADD COLUMN {column} text"))?;
        client.batch_execute("CHECKPOINT")?;
        let before = mark(client, "bench_plain")?;
        let started = Instant::now();
        client.batch_execute(&format!("UPDATE bench_plain SET {column} = {value}"))?;
        let cost = cost(client, "bench_plain", &before, rows, started.elapsed())?;
        client.batch_execute("DROP TABLE bench_plain")?;
        Ok(cost)
    };
    // zdm: expand and sync first (the trigger is installed, as in production), then the
    // timed backfill, with the options of `variant`.
    let zdm = |migration: &dyn Migration, table: &str, variant: usize| -> Result<Cost, Failure> {
        let (_, route, vacuum_every_rows) = VARIANTS[variant];
        let mut runner = Runner::connect(
            url,
            Options {
                route,
                vacuum_every_rows,
                ..Options::default()
            },
        )?;
        make_table(runner.client(), table, rows)?;
        runner
            .client()
            .execute("DELETE FROM zdm.migrations WHERE id = $1", &[&migration.id()])?;
        runner.run_to(migration, Phase::Sync)?;
        runner.client().batch_execute("CHECKPOINT")?;
        let before = mark(runner.client(), table)?;
        let started = Instant::now();
        let report = runner.run(migration, Phase::Backfill)?;
        let took = started.elapsed();
        assert_eq!(
            report.steps[0].rows as i64, rows,
            "the backfill wrote every row once"
        );
        cost(runner.client(), table, &before, rows, took)
    };
    // The seed's loop: a batch of ids still NULL, re-found by a scan each time, a commit
    // per batch.
    let seed = |client: &mut Client| -> Result<f64, Failure> {
        make_table(client, "bench_seed", rows)?;
        client.batch_execute("ALTER TABLE bench_seed ADD COLUMN email_lower text; CHECKPOINT")?;
        let started = Instant::now();
        while client.execute(
            "UPDATE bench_seed SET email_lower = lower(email) WHERE email_lower IS NULL AND id IN \
             (SELECT id FROM bench_seed WHERE email_lower IS NULL LIMIT 1000)",
            &[],
        )? > 0
        {}
        let took = started.elapsed();
        client.batch_execute("DROP TABLE bench_seed")?;
        Ok(rate(rows, took))
    };

    // Each method in turn, `--repeat` times, so that a slow minute of the shared machine
    // hits them all; the medians are compared.
    let (mut updates, mut copies, mut renames, mut seeds) = (vec![], vec![], vec![], vec![]);
    let mut variants = vec![vec![]; VARIANTS.len()];
    for _ in 0..args.repeat.max(1) {
        updates.push(plain(&mut client, "email_lower", "lower(email)")?);
        for (variant, costs) in variants.iter_mut().enumerate() {
            costs.push(zdm(&BenchEmailLower, "bench_zdm", variant)?);
        }
        copies.push(plain(&mut client, "contact", "email")?.rows_per_s);
        renames.push(zdm(&BenchRename, "bench_rename", VARIANTS.len() - 1)?.rows_per_s);
        if rows <= args.seed_loop_max_rows {
            seeds.push(seed(&mut client)?);
        }
    }

    // A constant default: catalog only.
    let relfilenode = |client: &mut Client| -> Result<String, Failure> {
        Ok(client
            .query_one(
                "SELECT relfilenode::text FROM pg_class WHERE relname = 'bench_zdm'",
                &[],
            )?
            .get(0))
    };
    let file_before = relfilenode(&mut client)?;
    let mut runner = Runner::connect(url, Options::default())?;
    let reports = runner.run_to(&BenchConstant, Phase::Contract)?;
    let constant_rows_written = reports
        .iter()
        .flat_map(|report| &report.steps)
        .map(|step| step.rows)
        .sum();
    let file_after = relfilenode(&mut client)?;
    drop(runner);
    client.batch_execute("DROP TABLE bench_zdm; DROP TABLE bench_rename; DELETE FROM zdm.migrations")?;
    let variants: Vec<Cost> = variants.iter().map(|costs| median_cost(costs)).collect();
    Ok(Backfill {
        update: median_cost(&updates),
        zdm: variants[VARIANTS.len() - 1],
        variants,
        copy_update_rows_per_s: median(copies),
        rename_rows_per_s: median(renames),
        seed_rows_per_s: (!seeds.is_empty()).then(|| median(seeds)),
        constant_rows_written,
        constant_rewrote_table: file_before != file_after,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

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

struct Triggers {
    without: f64,
    with: f64,
}

fn trigger_overhead(url: &str, args: &Args) -> Result<Triggers, Failure> {
    let mut client = zdm_runtime::connect(url)?;
    make_table(&mut client, "bench_writes", 100_000)?;
    let mut runner = Runner::connect(url, Options::default())?;
    runner.run_to(&BenchTrigger, Phase::Backfill)?;
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
struct Latencies {
    samples: Vec<Duration>,
    errors: usize,
}

impl Latencies {
    fn percentile(&self, fraction: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
    }
}

struct PhaseAvailability {
    phase: &'static str,
    latencies: Latencies,
    took: Duration,
}

struct Availability {
    baseline: Latencies,
    phases: Vec<PhaseAvailability>,
    max_access_exclusive: Duration,
}

/// Old- and new-version clients write while every phase runs on a table of `rows` rows.
fn availability(url: &str, args: &Args) -> Result<Availability, Failure> {
    let rows = args.availability_rows.unwrap_or(args.rows.min(1_000_000));
    let mut client = zdm_runtime::connect(url)?;
    make_table(&mut client, "bench_live", rows)?;
    let current: Arc<Mutex<Option<usize>>> = Arc::new(Mutex::new(None));
    let recorded: Arc<Mutex<Vec<Latencies>>> = Arc::new(Mutex::new(vec![Latencies::default(); 5]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..args.threads)
        .map(|thread| {
            let (current, recorded, stop, url) = (current.clone(), recorded.clone(), stop.clone(), url.to_owned());
            std::thread::spawn(move || -> Result<(), Failure> {
                let mut client = zdm_runtime::connect(&url)?;
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

    let baseline_time = Duration::from_secs_f64(args.seconds);
    *current.lock().unwrap() = Some(0);
    std::thread::sleep(baseline_time);

    let mut runner = Runner::connect(url, Options::default())?;
    let access_exclusive = Arc::new(Mutex::new((None::<Instant>, Duration::ZERO)));
    let watcher = access_exclusive.clone();
    runner.observe(move |event| {
        let mut state = watcher.lock().unwrap();
        match event {
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
        runner.run(&BenchAvailable, phase)?;
        // Keep the workload on the phase's slot a little after it ends.
        std::thread::sleep(Duration::from_millis(200));
        phases.push((phase.name(), slot + 1, started.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().map_err(|_| "a workload thread panicked")??;
    }
    let recorded = recorded.lock().unwrap().clone();
    let max_access_exclusive = access_exclusive.lock().unwrap().1;
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
    })
}

/// Seconds to build a crate of 100 declarations, and the same crate with the SQL as plain
/// strings, each from a clean build of that crate (dependencies built beforehand).
fn compile_cost() -> Result<(f64, f64), Failure> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target").join("bench-compile");
    let runtime = root.join("zdm-runtime");
    let make = |name: &str, body: String| -> Result<std::path::PathBuf, Failure> {
        let dir = work.join(name);
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n\
                 [dependencies]\nzdm-runtime = {{ path = {:?} }}\n",
                runtime.display().to_string()
            ),
        )?;
        std::fs::write(dir.join("src").join("lib.rs"), body)?;
        Ok(dir)
    };
    let mut declarations = String::from("use zdm_runtime::zero_downtime;\n");
    let mut plain = String::from("pub static MIGRATIONS: &[(&str, &[&str])] = &[\n");
    for n in 0..100 {
        declarations.push_str(&format!(
            "#[zero_downtime(id = \"m{n}\", add_column(table = \"t{n}\", column = \"c{n}\", ty = \"text\", \
             backfill = \"lower(email)\", not_null, index))]\npub struct M{n};\n"
        ));
        plain.push_str(&format!(
            "    (\"m{n}\", &[\"ALTER TABLE t{n} ADD COLUMN c{n} text\", \"CREATE INDEX CONCURRENTLY t{n}_c{n}_idx ON t{n} (c{n})\", \
             \"UPDATE t{n} SET c{n} = lower(email) WHERE c{n} IS NULL\", \"ALTER TABLE t{n} ADD CONSTRAINT t{n}_c{n}_nn CHECK (c{n} IS NOT NULL) NOT VALID\", \
             \"ALTER TABLE t{n} VALIDATE CONSTRAINT t{n}_c{n}_nn\", \"ALTER TABLE t{n} ALTER COLUMN c{n} SET NOT NULL\"]),\n"
        ));
    }
    plain.push_str("];\n");
    let target = work.join("target");
    let time_build = |dir: &std::path::Path, name: &str| -> Result<f64, Failure> {
        let cargo = |args: &[&str]| {
            std::process::Command::new("cargo")
                .args(args)
                .current_dir(dir)
                .env("CARGO_TARGET_DIR", &target)
                .status()
        };
        // Dependencies first, then a clean build of the crate alone, timed.
        if !cargo(&["build", "--quiet"])?.success() {
            return Err(format!("building {name} failed").into());
        }
        cargo(&["clean", "--quiet", "-p", name])?;
        let started = Instant::now();
        if !cargo(&["build", "--quiet"])?.success() {
            return Err(format!("building {name} failed").into());
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let decls = make("bench_decls", declarations)?;
    let strings = make("bench_strings", plain)?;
    Ok((
        time_build(&decls, "bench_decls")?,
        time_build(&strings, "bench_strings")?,
    ))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The backfill figures as JSON keys, every one a ratio to the plain UPDATE of the same run.
fn backfill_json(args: &Args, backfill: &Backfill) -> serde_json::Value {
    let update = backfill.update;
    let variants: Vec<_> = VARIANTS
        .iter()
        .zip(&backfill.variants)
        .map(|((name, _, _), cost)| {
            serde_json::json!({
                "variant": name,
                "vs_update": cost.rows_per_s / update.rows_per_s,
                "wal_vs_update": cost.wal_bytes / update.wal_bytes,
                "size_after_vs_before": cost.size_ratio,
            })
        })
        .collect();
    serde_json::json!({
        "rows": args.rows,
        "update_rows_per_s": update.rows_per_s,
        "zdm_backfill_rows_per_s": backfill.zdm.rows_per_s,
        "backfill_vs_update": backfill.zdm.rows_per_s / update.rows_per_s,
        "backfill_wal_vs_update": backfill.zdm.wal_bytes / update.wal_bytes,
        "update_size_after_vs_before": update.size_ratio,
        "backfill_size_after_vs_before": backfill.zdm.size_ratio,
        "backfill_size_vs_update_size": backfill.zdm.size_ratio / update.size_ratio,
        "backfill_variants": variants,
        "rename_backfill_vs_update": backfill.rename_rows_per_s / backfill.copy_update_rows_per_s,
        "seed_loop_vs_update": backfill.seed_rows_per_s.map(|seed| seed / update.rows_per_s),
        "constant_default_rows_written": backfill.constant_rows_written,
        "constant_default_rewrote_table": backfill.constant_rewrote_table,
    })
}

fn print_backfill(args: &Args, backfill: &Backfill) {
    let update = backfill.update;
    println!(
        "zdm benchmarks, {} rows, {} client threads",
        args.rows, args.threads
    );
    println!();
    println!("backfill                                  speed   WAL     table size after/before");
    println!(
        "  plain UPDATE ({:>9.0} rows/s)          1.00    1.00    {:.2}",
        update.rows_per_s, update.size_ratio
    );
    for ((name, _, _), cost) in VARIANTS.iter().zip(&backfill.variants) {
        println!(
            "  zdm, {name:<32} {:.2}    {:.2}    {:.2}",
            cost.rows_per_s / update.rows_per_s,
            cost.wal_bytes / update.wal_bytes,
            cost.size_ratio
        );
    }
    println!(
        "  rename_column backfill {:>8.0}        {:.2} (of one UPDATE copying the column, {:.0} rows/s)",
        backfill.rename_rows_per_s,
        backfill.rename_rows_per_s / backfill.copy_update_rows_per_s,
        backfill.copy_update_rows_per_s
    );
    match backfill.seed_rows_per_s {
        Some(seed) => println!(
            "  seed's loop           {seed:>12.0}        {:.2}",
            seed / update.rows_per_s
        ),
        None => println!("  seed's loop           skipped above --seed-loop-max-rows"),
    }
    println!(
        "  constant default      {} rows written, table rewritten: {}",
        backfill.constant_rows_written, backfill.constant_rewrote_table
    );
}

fn run(args: &Args) -> Result<(), Failure> {
    let url = bench_url()?;
    let backfill = backfill(&url, args)?;
    if args.backfill_only {
        match args.json {
            true => println!("{}", backfill_json(args, &backfill)),
            false => print_backfill(args, &backfill),
        }
        return Ok(());
    }
    let triggers = trigger_overhead(&url, args)?;
    let availability = availability(&url, args)?;
    let compile = if args.compile { Some(compile_cost()?) } else { None };

    let trigger_ratio = triggers.with / triggers.without;
    let workload_errors: usize = availability
        .phases
        .iter()
        .map(|phase| phase.latencies.errors)
        .sum();
    let max_wait = availability
        .phases
        .iter()
        .filter_map(|phase| phase.latencies.samples.iter().max())
        .max()
        .copied()
        .unwrap_or_default();
    let during_backfill = availability
        .phases
        .iter()
        .find(|phase| phase.phase == "backfill")
        .map(|phase| phase.latencies.clone())
        .unwrap_or_default();
    let baseline = &availability.baseline;
    let p50_ratio = ms(during_backfill.percentile(0.5)) / ms(baseline.percentile(0.5));
    let p99_ratio = ms(during_backfill.percentile(0.99)) / ms(baseline.percentile(0.99));
    let longest_backfill_wait = during_backfill.percentile(1.0);

    if args.json {
        let phases: Vec<_> = availability
            .phases
            .iter()
            .map(|phase| {
                serde_json::json!({
                    "phase": phase.phase,
                    "seconds": phase.took.as_secs_f64(),
                    "writes": phase.latencies.samples.len(),
                    "errors": phase.latencies.errors,
                    "p50_ms": ms(phase.latencies.percentile(0.5)),
                    "p99_ms": ms(phase.latencies.percentile(0.99)),
                    "max_ms": ms(phase.latencies.percentile(1.0)),
                })
            })
            .collect();
        let mut json = backfill_json(args, &backfill);
        json.as_object_mut().expect("an object").extend(
            serde_json::json!({
                "writes_per_s_without_trigger": triggers.without,
                "writes_per_s_with_trigger": triggers.with,
                "trigger_write_ratio": trigger_ratio,
                "workload_errors": workload_errors,
                "baseline_p50_ms": ms(baseline.percentile(0.5)),
                "baseline_p99_ms": ms(baseline.percentile(0.99)),
                "baseline_max_ms": ms(baseline.percentile(1.0)),
                "backfill_write_p50_vs_baseline": p50_ratio,
                "backfill_write_p99_vs_baseline": p99_ratio,
                "backfill_longest_write_ms": ms(longest_backfill_wait),
                "phases": phases,
                "max_query_wait_ms": ms(max_wait),
                "max_access_exclusive_ms": ms(availability.max_access_exclusive),
                "compile_seconds_declarations": compile.map(|c| c.0),
                "compile_seconds_plain_sql": compile.map(|c| c.1),
            })
            .as_object()
            .expect("an object")
            .clone(),
        );
        println!("{json}");
        return Ok(());
    }
    print_backfill(args, &backfill);
    println!();
    println!(
        "single-row writes/s    without trigger {:.0}, with sync trigger {:.0}, ratio {trigger_ratio:.2}",
        triggers.without, triggers.with
    );
    println!();
    println!(
        "availability: workload latency per phase (ms), {} writes/phase threads",
        args.threads
    );
    println!(
        "  {:<10} {:>8} {:>7} {:>8} {:>8} {:>8}",
        "phase", "writes", "errors", "p50", "p99", "max"
    );
    let line = |name: &str, latencies: &Latencies| {
        println!(
            "  {:<10} {:>8} {:>7} {:>8.2} {:>8.2} {:>8.2}",
            name,
            latencies.samples.len(),
            latencies.errors,
            ms(latencies.percentile(0.5)),
            ms(latencies.percentile(0.99)),
            ms(latencies.percentile(1.0))
        )
    };
    line("baseline", baseline);
    for phase in &availability.phases {
        line(phase.phase, &phase.latencies);
    }
    println!(
        "  during backfill / baseline: write p50 {p50_ratio:.2}, p99 {p99_ratio:.2}; longest write {:.1} ms",
        ms(longest_backfill_wait)
    );
    println!(
        "  workload errors {workload_errors}, longest query {:.1} ms, longest ACCESS EXCLUSIVE step {:.1} ms",
        ms(max_wait),
        ms(availability.max_access_exclusive)
    );
    if let Some((declarations, plain)) = compile {
        println!();
        println!(
            "compile: 100 declarations {declarations:.1}s, 100 plain SQL strings {plain:.1}s, ratio {:.2}",
            declarations / plain
        );
    }
    Ok(())
}
