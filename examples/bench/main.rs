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

mod backfill;
mod compile;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zdm_runtime::zero_downtime;

use workload::Latencies;

#[derive(Debug, Parser)]
#[command(about = "zdm benchmarks: backfill, trigger overhead, availability, compile cost")]
pub(crate) struct Args {
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
    /// Only these operations' backfills (add_column, add_boolean, rename_column,
    /// change_type, add_not_null); all when not given.
    #[arg(long = "operation")]
    operations: Vec<String>,
    /// Only these backfill variants, by their number in the table (0 to 5); all when not
    /// given.
    #[arg(long = "variant")]
    variants: Vec<usize>,
    /// The batch time target of every zdm backfill in the run, in milliseconds (the
    /// default options' when not given).
    #[arg(long)]
    batch_ms: Option<u64>,
    /// Backfill workers in the availability run (the default options' when not given).
    #[arg(long)]
    workers: Option<u32>,
    /// The availability run's backfill walks the primary key, one batch at a time, instead
    /// of the default heap pages.
    #[arg(long)]
    primary_key: bool,
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

/// The issue's own case: a boolean NOT NULL column, false for every row, filled by the
/// backfill (a constant `default` would need no backfill at all).
#[zero_downtime(
    id = "bench_flag",
    add_column(
        table = "bench_flag",
        column = "active",
        ty = "boolean",
        backfill = "false",
        not_null
    )
)]
pub struct BenchFlag;

/// A renamed column: the backfill copies it.
#[zero_downtime(
    id = "bench_rename",
    rename_column(table = "bench_rename", from = "email", to = "contact")
)]
pub struct BenchRename;

/// A wider integer: the backfill converts it into a new column.
#[zero_downtime(
    id = "bench_change_type",
    change_type(table = "bench_type", column = "amount", to = "bigint")
)]
pub struct BenchChangeType;

/// NULLs set to a value.
#[zero_downtime(
    id = "bench_not_null",
    add_not_null(table = "bench_not_null", column = "name", backfill = "'none'")
)]
pub struct BenchNotNull;

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

pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

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

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn run(args: &Args) -> Result<(), Failure> {
    let url = bench_url()?;
    let backfill = backfill::backfill(&url, args)?;
    if args.backfill_only {
        match args.json {
            true => println!("{}", backfill::json(args, &backfill)),
            false => backfill::print(args, &backfill),
        }
        return Ok(());
    }
    let triggers = workload::trigger_overhead(&url, args)?;
    let availability = workload::availability(&url, args)?;
    let compile = if args.compile {
        Some(compile::compile_cost()?)
    } else {
        None
    };

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
        let mut json = backfill::json(args, &backfill);
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
                "backfill_longest_lock_wait_ms": ms(availability.longest_lock_wait[3]),
                "availability_batch_ms": args.batch_ms,
                "availability_workers": workload::availability_options(args).backfill_workers,
                "availability_primary_key": args.primary_key,
                "availability_worker_changes": availability.worker_changes,
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
    backfill::print(args, &backfill);
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
    let lock_waits: Vec<String> = ["baseline", "expand", "sync", "backfill", "contract"]
        .iter()
        .zip(&availability.longest_lock_wait)
        .map(|(phase, wait)| format!("{phase} {:.1}", ms(*wait)))
        .collect();
    println!(
        "  longest lock wait of a write (ms, sampled): {}",
        lock_waits.join(", ")
    );
    if !args.primary_key {
        println!(
            "  batches per round after each change of the latency guard: {:?}",
            availability.worker_changes
        );
    }
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
