//! Crash anywhere, resume cleanly: for every pattern and every phase, a child process runs
//! the phase and is SIGKILLed at random points (the first child at the start of a random
//! step, where it waits for the kill); then the phase is run again to completion,
//! and the database must be exactly what an uninterrupted run leaves (catalog, row contents,
//! state row), with no INVALID index and nothing duplicated.
//!
//! `ZDM_CRASH_KILLS` (default 3) sets the kills per phase and `ZDM_CRASH_SEED` the random
//! seed, printed by every run so a failure can be replayed.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use postgres::Client;
use zdm_runtime::{
    zero_downtime, BackfillRoute, BatchSize, Direction, Event, Migration, Options, Phase, Runner,
};
use zdm_suite::{test_options, TestDb};

#[zero_downtime(
    id = "crash_add_column",
    add_column(
        table = "items",
        column = "code",
        ty = "text",
        backfill = "upper(label)",
        not_null,
        index
    )
)]
struct AddColumn;

#[zero_downtime(
    id = "crash_add_foreign_key",
    add_foreign_key(
        table = "items",
        column = "owner_id",
        ty = "bigint",
        references = "owners",
        backfill = "(id % 20) + 1",
        not_null
    )
)]
struct AddForeignKey;

#[zero_downtime(
    id = "crash_add_index",
    add_index(table = "items", columns = ["label", "id"], unique, where = "id > 10")
)]
struct AddIndex;

#[zero_downtime(
    id = "crash_add_not_null",
    add_not_null(table = "items", column = "note", backfill = "'none'")
)]
struct AddNotNull;

#[zero_downtime(id = "crash_rename_table", rename_table(from = "items", to = "articles"))]
struct RenameTable;

#[zero_downtime(
    id = "crash_split_table",
    split_table(
        table = "items",
        into(table = "item_labels", columns = ["label"]),
        into(table = "item_notes", columns = ["note", "id_text"])
    )
)]
struct SplitTable;

#[zero_downtime(
    id = "crash_rename_column",
    rename_column(table = "items", from = "label", to = "title")
)]
struct RenameColumn;

#[zero_downtime(
    id = "crash_change_type",
    change_type(
        table = "items",
        column = "id_text",
        to = "bigint",
        up = "id_text::bigint",
        down = "id_text::text"
    )
)]
struct ChangeType;

/// Several operations in one declaration: a backfill, two index builds, a foreign key and a
/// NOT NULL on another table, in the phases they share.
#[zero_downtime(
    id = "crash_multi_operation",
    add_column(table = "items", column = "owner_id", ty = "bigint", backfill = "(id % 20) + 1"),
    add_index(table = "items", columns = ["owner_id", "label"]),
    add_foreign_key(table = "items", column = "owner_id", references = "owners", existing_column),
    add_not_null(table = "owners", column = "name")
)]
struct MultiOperation;

#[zero_downtime(id = "crash_drop_index", drop_index(table = "tags", index = "tags_color"))]
struct DropIndex;

#[zero_downtime(
    id = "crash_drop_unique",
    drop_constraint(table = "tags", constraint = "tags_name_key")
)]
struct DropUnique;

#[zero_downtime(
    id = "crash_drop_check",
    drop_constraint(table = "tags", constraint = "tags_weight_check")
)]
struct DropCheck;

#[zero_downtime(
    id = "crash_rename_index",
    rename_index(table = "tags", from = "tags_color", to = "tags_by_color")
)]
struct RenameIndex;

#[zero_downtime(
    id = "crash_rename_constraint",
    rename_constraint(table = "tags", from = "tags_weight_check", to = "tags_weight_positive")
)]
struct RenameConstraint;

#[zero_downtime(id = "crash_drop_not_null", drop_not_null(table = "tags", column = "name"))]
struct DropNotNull;

#[zero_downtime(
    id = "crash_set_default",
    set_default(table = "tags", column = "color", default = "'blue'")
)]
struct SetDefault;

#[zero_downtime(id = "crash_drop_default", drop_default(table = "tags", column = "color"))]
struct DropDefault;

#[zero_downtime(
    id = "crash_set_replica_identity",
    set_replica_identity(table = "tags", identity = "full")
)]
struct SetReplicaIdentity;

#[zero_downtime(
    id = "crash_add_check",
    add_check(
        table = "items",
        name = "items_label_short",
        check = "length(label) < 8",
        fix_column = "label",
        fix = "left(label, 7)"
    )
)]
struct AddCheck;

#[zero_downtime(id = "crash_add_unique", add_unique(table = "items", columns = ["id_text"]))]
struct AddUnique;

#[zero_downtime(id = "crash_add_primary_key", add_primary_key(table = "keyless", columns = ["name"]))]
struct AddPrimaryKey;

#[zero_downtime(id = "crash_create_enum", create_enum(name = "mood", values = ["sad", "ok"]))]
struct CreateEnum;

#[zero_downtime(
    id = "crash_add_enum_value",
    add_enum_value(name = "shade", value = "grey", after = "dark")
)]
struct AddEnumValue;

#[zero_downtime(
    id = "crash_sql",
    sql(
        up = "ALTER TABLE items ADD COLUMN code text; UPDATE items SET code = upper(label)",
        down = "ALTER TABLE items DROP COLUMN IF EXISTS code",
        lock = "ACCESS EXCLUSIVE"
    )
)]
struct Sql;

#[zero_downtime(id = "crash_drop_table", drop_table(table = "keyless"))]
struct DropTable;

#[zero_downtime(
    id = "crash_drop_column",
    drop_column(table = "items", column = "id_text", down = "id::text")
)]
struct DropColumn;

#[zero_downtime(
    id = "crash_create_table",
    create_table(
        table = "item_tags",
        column(name = "id", ty = "bigint"),
        column(name = "item_id", ty = "bigint", not_null, references = "items"),
        column(name = "tag", ty = "text", default = "'new'", not_null, check = "tag <> ''"),
        primary_key = "id"
    )
)]
struct CreateTable;

/// The tables every pattern starts from: `items`, plus `owners` for the foreign key, `tags`
/// for the catalog operations, `keyless` (no primary key) for `add_primary_key` and the enum
/// `shade` for `add_enum_value`.
const SETUP: &str = "
    CREATE TYPE shade AS ENUM ('dark', 'light');
    CREATE TABLE keyless (name text NOT NULL, shade shade);
    INSERT INTO keyless SELECT 'tag ' || g, 'dark' FROM generate_series(1, 600) g;
    CREATE TABLE owners (id bigint PRIMARY KEY, name text);
    INSERT INTO owners SELECT g, 'owner ' || g FROM generate_series(1, 20) g;
    CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, note text, id_text text NOT NULL);
    CREATE INDEX items_label ON items (label);
    INSERT INTO items SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, g::text
    FROM generate_series(1, 600) g;
    CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL CONSTRAINT tags_name_key UNIQUE, color text DEFAULT 'red',
        weight int CONSTRAINT tags_weight_check CHECK (weight >= 0), owner_id bigint REFERENCES owners);
    CREATE INDEX tags_color ON tags (color);
    INSERT INTO tags SELECT g, 'tag ' || g, 'c' || g % 4, g, g % 20 + 1 FROM generate_series(1, 300) g;";

fn patterns() -> Vec<(&'static str, &'static dyn Migration)> {
    vec![
        ("add_column", &AddColumn),
        ("rename_column", &RenameColumn),
        ("change_type", &ChangeType),
        ("add_foreign_key", &AddForeignKey),
        ("add_index", &AddIndex),
        ("add_not_null", &AddNotNull),
        ("rename_table", &RenameTable),
        ("split_table", &SplitTable),
        ("multi_operation", &MultiOperation),
        ("drop_index", &DropIndex),
        ("drop_unique", &DropUnique),
        ("drop_check", &DropCheck),
        ("rename_index", &RenameIndex),
        ("rename_constraint", &RenameConstraint),
        ("drop_not_null", &DropNotNull),
        ("set_default", &SetDefault),
        ("drop_default", &DropDefault),
        ("set_replica_identity", &SetReplicaIdentity),
        ("add_check", &AddCheck),
        ("add_unique", &AddUnique),
        ("add_primary_key", &AddPrimaryKey),
        ("create_enum", &CreateEnum),
        ("add_enum_value", &AddEnumValue),
        ("sql", &Sql),
        ("drop_table", &DropTable),
        ("drop_column", &DropColumn),
        ("create_table", &CreateTable),
    ]
}

/// The signal `Child::kill` sends on Linux.
const SIGKILL: i32 = 9;

/// The child's pause before each step and after each backfill batch: it stretches a phase
/// so that random kill times land between and inside its steps.
const STEP_PAUSE: Duration = Duration::from_millis(15);

/// Batches of 60 rows; for the patterns whose triggers fill every row written, two
/// heap-page batches at a time, so that kills also land between a worker's batch and the
/// one before it.
fn child_options(pattern: &str) -> Options {
    let heap_pages = matches!(pattern, "add_column" | "add_not_null");
    Options {
        batch: BatchSize::Fixed(60),
        route: if heap_pages {
            BackfillRoute::HeapPages
        } else {
            BackfillRoute::PrimaryKey
        },
        backfill_workers: 2,
        ..test_options()
    }
}

/// Run by `every_phase_of_every_pattern_survives_sigkill` as a child process.
#[test]
#[ignore = "child process of every_phase_of_every_pattern_survives_sigkill"]
fn crash_child() {
    let (Ok(url), Ok(pattern), Ok(phase)) = (
        std::env::var("ZDM_CRASH_URL"),
        std::env::var("ZDM_CRASH_PATTERN"),
        std::env::var("ZDM_CRASH_PHASE"),
    ) else {
        return;
    };
    let migration = patterns()
        .into_iter()
        .find(|(name, _)| *name == pattern)
        .expect("a known pattern")
        .1;
    let phase = Phase::from_name(&phase).expect("a phase name");
    // The session of the child killed before may still hold the runner lock for a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut runner = loop {
        match Runner::connect(&url, child_options(&pattern)) {
            Ok(runner) => break runner,
            Err(zdm_runtime::Error::Busy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(error) => panic!("{error}"),
        }
    };
    let hold_at: Option<usize> = std::env::var("ZDM_CRASH_HOLD_AT")
        .ok()
        .map(|index| index.parse().expect("a step index"));
    let tell = |line: &str| {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    };
    runner.observe(move |event| match event {
        // Tells the parent the phase is under way, so its kill lands inside it.
        Event::PhaseStarted { .. } => tell("started"),
        // Waits, mid-phase, for the parent's kill.
        Event::StepStarted { index, .. } if Some(*index) == hold_at => {
            tell("holding");
            std::thread::sleep(Duration::from_secs(60));
            panic!("the parent did not kill the child holding at step {index}");
        }
        _ => pause_between_steps(event),
    });
    // The parent starts a child only while the phase has not completed, so any error is a
    // failure of the resume itself: the child exits non-zero and the parent reports it.
    if let Err(error) = runner.run(migration, phase) {
        panic!("{pattern}: {phase} failed in the child: {error}");
    }
}

fn pause_between_steps(event: &Event<'_>) {
    if let Event::StepStarted { .. } | Event::BackfillProgress { .. } = event {
        std::thread::sleep(STEP_PAUSE);
    }
}

/// Everything a phase may change, as text: columns, indexes (with validity), constraints
/// (with validation), triggers, functions, views, the state rows, and for every table a
/// digest of its rows that ignores the column order, and the column order.
fn snapshot(client: &mut Client) -> String {
    let catalog: String = client
        .query_one(
            "SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
               SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                      || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                      || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'p')
                 AND a.attnum > 0 AND NOT a.attisdropped
               UNION ALL
               SELECT 'index ' || i.indexrelid::regclass || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
                      || ' ' || pg_get_indexdef(i.indexrelid)
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relnamespace = 'public'::regnamespace
               UNION ALL
               SELECT 'constraint ' || conrelid::regclass || ' ' || conname
                      || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END || ' ' || pg_get_constraintdef(oid)
               FROM pg_constraint WHERE connamespace = 'public'::regnamespace
               UNION ALL
               SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
               UNION ALL
               SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p
               WHERE p.pronamespace IN ('public'::regnamespace, 'zdm'::regnamespace) AND p.prokind <> 'a'
               UNION ALL
               SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
               UNION ALL
               SELECT 'replica identity ' || relname || ' ' || relreplident::text FROM pg_class
               WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
               UNION ALL
               SELECT 'enum ' || enumtypid::regtype || ' ' || enumlabel || ' ' || enumsortorder FROM pg_enum
               UNION ALL
               SELECT 'state ' || id || ' ' || coalesce(completed, 'pending') || ' ' || coalesce(running, 'idle')
               FROM zdm.migrations
             ) lines",
            &[],
        )
        .expect("catalog snapshot")
        .get::<_, Option<String>>(0)
        .unwrap_or_default();
    let tables: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut text = catalog;
    for table in tables {
        let order: Vec<String> = zdm_suite::columns(client, &table)
            .into_iter()
            .map(|column| column.name)
            .collect();
        text.push_str(&format!("\nrows {table} {}", zdm_suite::contents(client, &table)));
        text.push_str(&format!("\norder {table}: {}", order.join(", ")));
    }
    text
}

/// A snapshot without the state row of a migration that has not started (reverting expand
/// leaves one; a database that never ran the migration has none).
fn without_pending_state(snapshot: &str) -> String {
    snapshot
        .lines()
        .filter(|line| !(line.starts_with("state ") && line.ends_with(" pending idle")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small generator for kill times; seeded so a failing run can be replayed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }
}

/// A runner, once the session of a killed child has ended and released the runner lock.
fn runner_after_kill(url: &str) -> Runner {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Runner::connect(url, test_options()) {
            Ok(runner) => return runner,
            Err(zdm_runtime::Error::Busy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(error) => panic!("{error}"),
        }
    }
}

#[test]
fn every_phase_of_every_pattern_survives_sigkill() {
    let kills: u32 = std::env::var("ZDM_CRASH_KILLS")
        .ok()
        .and_then(|kills| kills.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("ZDM_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64)
        });
    eprintln!("crash test: ZDM_CRASH_SEED={seed} ZDM_CRASH_KILLS={kills}");
    let mut random = Random(seed);
    let mut interrupted = 0;
    let mut reverted = 0;
    let mut never_interrupted = Vec::new();
    for (name, migration) in patterns() {
        // The reference: the same phases, uninterrupted.
        let reference_db = TestDb::new(&format!("crash_reference_{name}"));
        let mut reference = reference_db.connect();
        reference.batch_execute(SETUP).unwrap();
        let mut reference_runner = Runner::connect(reference_db.url(), child_options(name)).unwrap();
        reference_runner.observe(pause_between_steps);
        let initial = snapshot(&mut reference);
        let mut expected = Vec::new();
        for phase in Phase::ALL {
            let started = Instant::now();
            reference_runner.run(migration, phase).unwrap();
            expected.push((snapshot(&mut reference), started.elapsed()));
        }

        let db = TestDb::new(&format!("crash_{name}"));
        db.connect().batch_execute(SETUP).unwrap();
        drop(Runner::connect(db.url(), test_options()).unwrap());
        let mut client = db.connect();
        for (index, phase) in Phase::ALL.into_iter().enumerate() {
            let (expected_snapshot, took) = &expected[index];
            // The reference took about as long as the child takes (the same pauses, the same
            // work); kills land in the first four fifths, so most interrupt the phase.
            let window = took.mul_f64(0.8);
            let mut interrupted_here = 0;
            let steps = migration.plan().phase(phase).forward.len();
            for attempt in 0..kills {
                let mut command = Command::new(std::env::current_exe().unwrap());
                command
                    .args(["--exact", "crash_child", "--ignored", "--quiet", "--nocapture"])
                    .env("ZDM_CRASH_URL", db.url())
                    .env("ZDM_CRASH_PATTERN", name)
                    .env("ZDM_CRASH_PHASE", phase.name())
                    .stdout(std::process::Stdio::piped());
                // The first child holds at the start of a random step, so the first kill
                // surely interrupts the phase however fast the machine; later kills land at
                // random times, inside steps and batches too.
                let holding = attempt == 0 && steps > 0;
                if holding {
                    command.env("ZDM_CRASH_HOLD_AT", random.below(steps as u64).to_string());
                }
                let mut child = command.spawn().unwrap();
                // A thread drains the child's output to its end, so the child never writes
                // into a closed pipe, and reports the start and the hold.
                let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
                let (line_tx, line_rx) = std::sync::mpsc::channel();
                let drain = std::thread::spawn(move || {
                    for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
                        if line == "started" || line == "holding" {
                            let _ = line_tx.send(line);
                        }
                    }
                });
                // Wait for the hold, or for the phase to start and then a random time (or
                // for the child to end, refused), then kill.
                let awaited = if holding { "holding" } else { "started" };
                if line_rx.iter().any(|line| line == awaited) && !holding {
                    std::thread::sleep(Duration::from_micros(random.below(window.as_micros() as u64)));
                }
                child.kill().unwrap();
                let status = child.wait().unwrap();
                drain.join().unwrap();
                assert!(
                    status.success() || status.signal() == Some(SIGKILL),
                    "{name}: the child running {phase} failed by itself ({status}); see its output above \
                     (ZDM_CRASH_SEED={seed})"
                );
                // A kill interrupted the phase only if the state row still shows it running.
                let state = runner_after_kill(db.url()).state(migration).unwrap();
                if state.running == Some((phase, Direction::Forward)) && status.signal().is_some() {
                    interrupted += 1;
                    interrupted_here += 1;
                }
                // Once a child completed the phase, later ones would only be refused.
                if state.completed == Some(phase) {
                    break;
                }
            }
            if interrupted_here == 0 && !migration.plan().phase(phase).forward.is_empty() {
                never_interrupted.push(format!("{name} {phase}"));
            }
            let mut runner = runner_after_kill(db.url());
            let state = runner.state(migration).unwrap();
            if state.running.is_some() && random.below(2) == 0 {
                // Half the interrupted phases are undone instead: the table must be what it
                // was before the phase started.
                reverted += 1;
                runner
                    .revert(migration, phase)
                    .unwrap_or_else(|error| panic!("{name}: reverting an interrupted {phase}: {error}"));
                let before = if index == 0 {
                    &initial
                } else {
                    &expected[index - 1].0
                };
                // A phase with nothing to undo (split_table's backfill: its copies stay in
                // step through the sync) keeps the rows it wrote outside the old table. A
                // contract reverted after its swap re-adds the old column last (as the README
                // says), so after a contract the column order is compared only once it is resumed.
                let comparable = |snapshot: &str| {
                    let nothing_undone = migration.plan().phase(phase).reverse.is_empty();
                    without_pending_state(snapshot)
                        .lines()
                        .filter(|line| {
                            let kept_rows = nothing_undone
                                && line.starts_with("rows ")
                                && !line.starts_with("rows items ");
                            let column_order = phase == Phase::Contract && line.starts_with("order ");
                            // PostgreSQL cannot drop an enum value: reverting leaves it, unused.
                            let kept_value = name == "add_enum_value" && line.starts_with("enum ");
                            !(kept_rows || column_order || kept_value)
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                assert_eq!(
                    comparable(&snapshot(&mut client)),
                    comparable(before),
                    "{name}: after an interrupted {phase} was reverted (ZDM_CRASH_SEED={seed})"
                );
            }
            if runner.state(migration).unwrap().completed != Some(phase) {
                runner
                    .run(migration, phase)
                    .unwrap_or_else(|error| panic!("{name}: resuming {phase} after kills: {error}"));
            }
            drop(runner);
            assert_eq!(
                snapshot(&mut client),
                *expected_snapshot,
                "{name}: after {phase} was killed {kills} times and resumed (ZDM_CRASH_SEED={seed})"
            );
        }
    }
    // Kills must land while phases run, or the test proves little: at least one in every
    // phase that has steps (a phase with nothing to do cannot be interrupted).
    assert!(
        never_interrupted.is_empty(),
        "no kill interrupted these phases while they ran: {never_interrupted:?} (ZDM_CRASH_SEED={seed})"
    );
    eprintln!(
        "crash test: {interrupted} kills interrupted a running phase; {reverted} interrupted phases reverted"
    );
}
