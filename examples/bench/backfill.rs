//! The backfill figures: each operation's zdm backfill against one plain `UPDATE` doing
//! the same work on the same table, speed, WAL and the table's size, in one run.

use std::time::{Duration, Instant};

use postgres::Client;
use zdm_runtime::{BackfillRoute, BatchSize, Migration, Options, Phase, Runner};

use super::{Args, Failure};

/// The columns and rows of a benchmark table.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// `id`, `email`, `name`, every one set.
    Users,
    /// The same with `name` NULL in every row.
    NullNames,
    /// `id`, `email`, and an integer `amount`.
    Amounts,
}

/// A fresh table of `rows` rows, vacuumed and checkpointed so that every method starts from
/// the same physical state.
pub(crate) fn make_table(client: &mut Client, name: &str, rows: i64, shape: Shape) -> Result<(), Failure> {
    let (third, value) = match shape {
        Shape::Users => ("name text", "'name ' || g"),
        Shape::NullNames => ("name text", "NULL"),
        Shape::Amounts => ("amount integer", "g::integer"),
    };
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {name};
         CREATE TABLE {name} (id bigint PRIMARY KEY, email text NOT NULL, {third});
         INSERT INTO {name} SELECT g, 'User' || g || '@Example.COM', {value} FROM generate_series(1, {rows}) g;"
    ))?;
    settle(client, name)
}

/// VACUUM (its own statement: it cannot run in the implicit transaction of a multi-statement
/// string), ANALYZE and CHECKPOINT, so that dirty pages of earlier work are not flushed
/// during the next measurement.
pub(crate) fn settle(client: &mut Client, table: &str) -> Result<(), Failure> {
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    client.batch_execute("CHECKPOINT")?;
    Ok(())
}

fn rate(rows: i64, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64().max(1e-9)
}

/// One method's run: its speed, the WAL it wrote and the table's size after it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cost {
    pub(crate) rows_per_s: f64,
    pub(crate) wal_bytes: f64,
    /// The table's size after, over its size before.
    pub(crate) size_ratio: f64,
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

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One set of backfill options measured: what each change bought.
pub(crate) struct Variant {
    pub(crate) name: &'static str,
    route: BackfillRoute,
    vacuum_every_rows: u64,
    workers: u32,
    /// `Options::skip_user_triggers`: what the sync trigger costs the backfill (PostgreSQL
    /// locks each row, a WAL record, before it looks at any BEFORE UPDATE trigger's WHEN).
    skip_triggers: bool,
}

pub(crate) const VARIANTS: [Variant; 6] = [
    Variant {
        name: "primary key, no vacuum",
        route: BackfillRoute::PrimaryKey,
        vacuum_every_rows: 0,
        workers: 1,
        skip_triggers: false,
    },
    Variant {
        name: "primary key, vacuum",
        route: BackfillRoute::PrimaryKey,
        vacuum_every_rows: 50_000,
        workers: 1,
        skip_triggers: false,
    },
    Variant {
        name: "heap pages, vacuum, 1 worker",
        route: BackfillRoute::HeapPages,
        vacuum_every_rows: 50_000,
        workers: 1,
        skip_triggers: false,
    },
    Variant {
        name: "heap pages, vacuum, 2 workers",
        route: BackfillRoute::HeapPages,
        vacuum_every_rows: 50_000,
        workers: 2,
        skip_triggers: false,
    },
    Variant {
        name: "heap pages, no vacuum, 2 workers",
        route: BackfillRoute::HeapPages,
        vacuum_every_rows: 0,
        workers: 2,
        skip_triggers: false,
    },
    Variant {
        name: "primary key, vacuum, no triggers",
        route: BackfillRoute::PrimaryKey,
        vacuum_every_rows: 50_000,
        workers: 1,
        skip_triggers: true,
    },
];

/// The variants the default options take: the primary key where the operation's trigger
/// does not allow heap pages, heap pages with two workers where it does.
const PRIMARY_KEY: usize = 1;
const HEAP_PAGES: usize = 3;

/// An operation whose backfill is measured, and the plain SQL doing the same work.
pub(crate) struct Operation {
    pub(crate) name: &'static str,
    table: &'static str,
    shape: Shape,
    /// Run on the plain table before the timed UPDATE (`{t}`: the table).
    prepare: &'static str,
    update: &'static str,
    migration: &'static dyn Migration,
    /// Indexes into [`VARIANTS`]: heap pages only where the operation's trigger allows them.
    variants: &'static [usize],
    /// The variant the default options take.
    default_variant: usize,
}

pub(crate) const OPERATIONS: [Operation; 5] = [
    Operation {
        name: "add_column",
        table: "bench_zdm",
        shape: Shape::Users,
        prepare: "ALTER TABLE {t} ADD COLUMN email_lower text",
        update: "UPDATE {t} SET email_lower = lower(email)",
        migration: &super::BenchEmailLower,
        variants: &[0, 1, 2, 3, 4, 5],
        default_variant: HEAP_PAGES,
    },
    // The issue's own case: one byte a row, so the table's growth is mostly row versions.
    Operation {
        name: "add_boolean",
        table: "bench_flag",
        shape: Shape::Users,
        prepare: "ALTER TABLE {t} ADD COLUMN active boolean",
        update: "UPDATE {t} SET active = false",
        migration: &super::BenchFlag,
        variants: &[PRIMARY_KEY, HEAP_PAGES, 5],
        default_variant: HEAP_PAGES,
    },
    Operation {
        name: "rename_column",
        table: "bench_rename",
        shape: Shape::Users,
        prepare: "ALTER TABLE {t} ADD COLUMN contact text",
        update: "UPDATE {t} SET contact = email",
        migration: &super::BenchRename,
        variants: &[PRIMARY_KEY, 5],
        default_variant: PRIMARY_KEY,
    },
    Operation {
        name: "change_type",
        table: "bench_type",
        shape: Shape::Amounts,
        prepare: "ALTER TABLE {t} ADD COLUMN amount_new bigint",
        update: "UPDATE {t} SET amount_new = amount",
        migration: &super::BenchChangeType,
        variants: &[PRIMARY_KEY],
        default_variant: PRIMARY_KEY,
    },
    Operation {
        name: "add_not_null",
        table: "bench_not_null",
        shape: Shape::NullNames,
        prepare: "",
        update: "UPDATE {t} SET name = 'none'",
        migration: &super::BenchNotNull,
        variants: &[PRIMARY_KEY, HEAP_PAGES],
        default_variant: HEAP_PAGES,
    },
];

/// One operation's medians.
pub(crate) struct Measured {
    pub(crate) operation: &'static Operation,
    pub(crate) update: Cost,
    /// The plain table rewritten compact after its UPDATE (`VACUUM FULL`), over its size
    /// before: the least any method can leave, the new values' own bytes.
    pub(crate) compact_ratio: f64,
    /// `(index into VARIANTS, cost)`.
    pub(crate) variants: Vec<(usize, Cost)>,
}

impl Measured {
    pub(crate) fn variant(&self, index: usize) -> Option<Cost> {
        self.variants
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, cost)| *cost)
    }
}

pub(crate) struct Backfill {
    pub(crate) measured: Vec<Measured>,
    pub(crate) seed_rows_per_s: Option<f64>,
    pub(crate) constant_rows_written: u64,
    pub(crate) constant_rewrote_table: bool,
}

/// The physical limit: one UPDATE over the whole table, its column already there; and the
/// size of the same table rewritten compact.
fn plain(client: &mut Client, operation: &Operation, rows: i64) -> Result<(Cost, f64), Failure> {
    let table = "bench_plain";
    make_table(client, table, rows, operation.shape)?;
    if !operation.prepare.is_empty() {
        client.batch_execute(&operation.prepare.replace("{t}", table))?;
    }
    client.batch_execute("CHECKPOINT")?;
    let before = mark(client, table)?;
    let started = Instant::now();
    client.batch_execute(&operation.update.replace("{t}", table))?;
    let cost = cost(client, table, &before, rows, started.elapsed())?;
    client.batch_execute(&format!("VACUUM FULL {table}"))?;
    let compact: i64 = client
        .query_one("SELECT pg_table_size('bench_plain')", &[])?
        .get(0);
    client.batch_execute(&format!("DROP TABLE {table}"))?;
    Ok((cost, compact as f64 / before.1.max(1) as f64))
}

/// zdm: expand and sync first (the trigger is installed, as in production), then the
/// timed backfill, with the options of `variant`.
fn zdm(url: &str, operation: &Operation, variant: &Variant, args: &Args) -> Result<Cost, Failure> {
    let rows = args.rows;
    let mut options = Options {
        route: variant.route,
        vacuum_every_rows: variant.vacuum_every_rows,
        backfill_workers: variant.workers,
        skip_user_triggers: variant.skip_triggers,
        ..Options::default()
    };
    if let Some(ms) = args.batch_ms {
        options.batch = BatchSize::Target(Duration::from_millis(ms));
    }
    let mut runner = Runner::connect(url, options)?;
    let (migration, table) = (operation.migration, operation.table);
    forget(runner.client(), migration)?;
    make_table(runner.client(), table, rows, operation.shape)?;
    runner.run_to(migration, Phase::Sync)?;
    runner.client().batch_execute("CHECKPOINT")?;
    let before = mark(runner.client(), table)?;
    let started = Instant::now();
    let report = runner.run(migration, Phase::Backfill)?;
    let took = started.elapsed();
    let written: u64 = report.steps.iter().map(|step| step.rows).sum();
    assert_eq!(
        written as i64, rows,
        "{}: the backfill wrote every row once",
        operation.name
    );
    cost(runner.client(), table, &before, rows, took)
}

/// Forgets the previous round of `migration`: its state row, add_not_null's record of the
/// keys it filled, and its version schema, whose views over the table would keep the next
/// round from dropping it.
fn forget(client: &mut Client, migration: &dyn Migration) -> Result<(), Failure> {
    let id = migration.id();
    client.execute("DELETE FROM zdm.migrations WHERE id = $1", &[&id])?;
    client.batch_execute(&format!("DROP TABLE IF EXISTS zdm.\"{id}_filled\""))?;
    let recorded: Option<String> = client
        .query_one("SELECT to_regclass('zdm.version_columns')::text", &[])?
        .get(0);
    if recorded.is_some() {
        client.execute("DELETE FROM zdm.version_columns WHERE migration = $1", &[&id])?;
    }
    let schema = zdm_runtime::quote_ident(&zdm_plan::names::version_schema(id));
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    Ok(())
}

/// The seed's loop: a batch of ids still NULL, re-found by a scan each time, a commit per
/// batch.
fn seed(client: &mut Client, rows: i64) -> Result<f64, Failure> {
    make_table(client, "bench_seed", rows, Shape::Users)?;
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
}

/// One operation's runs so far: its plain UPDATEs, their compact sizes, and each variant's.
type Runs = (Vec<Cost>, Vec<f64>, Vec<Vec<Cost>>);

pub(crate) fn backfill(url: &str, args: &Args) -> Result<Backfill, Failure> {
    let mut client = zdm_runtime::connect(url)?;
    let rows = args.rows;
    let chosen = |operation: &Operation| {
        args.operations.is_empty() || args.operations.iter().any(|name| name == operation.name)
    };
    let wanted = |variant: usize| args.variants.is_empty() || args.variants.contains(&variant);
    let operations: Vec<&'static Operation> =
        OPERATIONS.iter().filter(|operation| chosen(operation)).collect();
    // Each method in turn, `--repeat` times, so that a slow minute of the shared machine
    // hits them all; the medians are compared.
    let mut runs: Vec<Runs> = operations
        .iter()
        .map(|operation| (vec![], vec![], vec![vec![]; operation.variants.len()]))
        .collect();
    let mut seeds = vec![];
    for _ in 0..args.repeat.max(1) {
        for (operation, (updates, compacts, variants)) in operations.iter().zip(&mut runs) {
            let (update, compact) = plain(&mut client, operation, rows)?;
            updates.push(update);
            compacts.push(compact);
            for (&variant, costs) in operation.variants.iter().zip(variants.iter_mut()) {
                if wanted(variant) {
                    costs.push(zdm(url, operation, &VARIANTS[variant], args)?);
                }
            }
        }
        if rows <= args.seed_loop_max_rows && chosen(&OPERATIONS[0]) {
            seeds.push(seed(&mut client, rows)?);
        }
    }
    let measured = operations
        .iter()
        .zip(runs)
        .map(|(operation, (updates, compacts, variants))| Measured {
            operation,
            update: median_cost(&updates),
            compact_ratio: median(compacts),
            variants: operation
                .variants
                .iter()
                .zip(variants)
                .filter(|(_, costs)| !costs.is_empty())
                .map(|(&variant, costs)| (variant, median_cost(&costs)))
                .collect(),
        })
        .collect();
    let (constant_rows_written, constant_rewrote_table) = constant_default(url, rows)?;
    for operation in OPERATIONS {
        forget(&mut client, operation.migration)?;
        client.batch_execute(&format!("DROP TABLE IF EXISTS {}", operation.table))?;
    }
    Ok(Backfill {
        measured,
        seed_rows_per_s: (!seeds.is_empty()).then(|| median(seeds)),
        constant_rows_written,
        constant_rewrote_table,
    })
}

/// A constant default: catalog only. Rows written, and whether the table was rewritten.
fn constant_default(url: &str, rows: i64) -> Result<(u64, bool), Failure> {
    let mut client = zdm_runtime::connect(url)?;
    make_table(&mut client, "bench_zdm", rows.min(100_000), Shape::Users)?;
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
    let reports = runner.run_to(&super::BenchConstant, Phase::Contract)?;
    let written = reports
        .iter()
        .flat_map(|report| &report.steps)
        .map(|step| step.rows)
        .sum();
    let file_after = relfilenode(&mut client)?;
    client.batch_execute("DROP TABLE bench_zdm")?;
    Ok((written, file_before != file_after))
}

/// The backfill figures as JSON keys, every one a ratio to the plain UPDATE of the same run.
pub(crate) fn json(args: &Args, backfill: &Backfill) -> serde_json::Value {
    let mut json = serde_json::json!({ "rows": args.rows });
    let object = json.as_object_mut().expect("an object");
    let mut operations = Vec::new();
    for measured in &backfill.measured {
        let update = measured.update;
        let variants: Vec<_> = measured
            .variants
            .iter()
            .map(|(variant, cost)| {
                serde_json::json!({
                    "variant": VARIANTS[*variant].name,
                    "default": *variant == measured.operation.default_variant,
                    "vs_update": cost.rows_per_s / update.rows_per_s,
                    "wal_vs_update": cost.wal_bytes / update.wal_bytes,
                    "size_after_vs_before": cost.size_ratio,
                })
            })
            .collect();
        operations.push(serde_json::json!({
            "operation": measured.operation.name,
            "update_rows_per_s": update.rows_per_s,
            "update_size_after_vs_before": update.size_ratio,
            "compact_size_vs_before": measured.compact_ratio,
            "variants": variants,
        }));
        if let Some(zdm) = measured.variant(measured.operation.default_variant) {
            let name = measured.operation.name;
            object.insert(
                format!("{name}_backfill_vs_update"),
                (zdm.rows_per_s / update.rows_per_s).into(),
            );
            object.insert(
                format!("{name}_backfill_wal_vs_update"),
                (zdm.wal_bytes / update.wal_bytes).into(),
            );
            object.insert(
                format!("{name}_backfill_size_after_vs_before"),
                zdm.size_ratio.into(),
            );
        }
    }
    // The keys of earlier runs, all add_column's.
    if let Some(add) = backfill
        .measured
        .iter()
        .find(|measured| measured.operation.name == "add_column")
    {
        if let Some(zdm) = add.variant(add.operation.default_variant) {
            let update = add.update;
            object.extend(
                serde_json::json!({
                    "update_rows_per_s": update.rows_per_s,
                    "zdm_backfill_rows_per_s": zdm.rows_per_s,
                    "backfill_vs_update": zdm.rows_per_s / update.rows_per_s,
                    "backfill_wal_vs_update": zdm.wal_bytes / update.wal_bytes,
                    "update_size_after_vs_before": update.size_ratio,
                    "backfill_size_after_vs_before": zdm.size_ratio,
                    "backfill_size_vs_update_size": zdm.size_ratio / update.size_ratio,
                    "seed_loop_vs_update": backfill.seed_rows_per_s.map(|seed| seed / update.rows_per_s),
                })
                .as_object()
                .expect("an object")
                .clone(),
            );
        }
    }
    object.insert("backfill_operations".to_owned(), operations.into());
    object.insert(
        "constant_default_rows_written".to_owned(),
        backfill.constant_rows_written.into(),
    );
    object.insert(
        "constant_default_rewrote_table".to_owned(),
        backfill.constant_rewrote_table.into(),
    );
    json
}

pub(crate) fn print(args: &Args, backfill: &Backfill) {
    println!(
        "zdm benchmarks, {} rows, {} client threads",
        args.rows, args.threads
    );
    for measured in &backfill.measured {
        let update = measured.update;
        println!();
        println!(
            "{:<46} speed   WAL     table size after/before",
            format!("backfill, {}", measured.operation.name)
        );
        println!(
            "  plain UPDATE ({:>9.0} rows/s)               1.00    1.00    {:.2} (compact {:.2})",
            update.rows_per_s, update.size_ratio, measured.compact_ratio
        );
        for (variant, cost) in &measured.variants {
            let default = if *variant == measured.operation.default_variant {
                " (default)"
            } else {
                ""
            };
            println!(
                "  zdm, {:<40} {:.2}    {:.2}    {:.2}",
                format!("{}{default}", VARIANTS[*variant].name),
                cost.rows_per_s / update.rows_per_s,
                cost.wal_bytes / update.wal_bytes,
                cost.size_ratio
            );
        }
        if measured.operation.name == "add_column" {
            match backfill.seed_rows_per_s {
                Some(seed) => println!(
                    "  the seed's loop                               {:.2}",
                    seed / update.rows_per_s
                ),
                None => println!("  the seed's loop: skipped above --seed-loop-max-rows"),
            }
        }
    }
    println!();
    println!(
        "constant default: {} rows written, table rewritten: {}",
        backfill.constant_rows_written, backfill.constant_rewrote_table
    );
}
