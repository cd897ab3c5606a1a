//! Version views that hide columns: drop_column's (the new version never sees the column it
//! drops), and split_table's while a later migration of the same source table is in flight
//! (whose contract retires the earlier view and whose reversal re-creates it). Old version
//! on the tables, new version through its version schema, statements prepared once.

mod mixed;

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use mixed::{assert_rows_as_meant, new_version_url, run_moves, Ledger, Move, Version, ROWS};
use postgres::Client;
use zdm_runtime::{zero_downtime, Migration, Options, Phase};
use zdm_suite::{test_options, TestDb};

#[zero_downtime(
    id = "items_drop_code",
    drop_column(table = "items", column = "code", down = "'down ' || name")
)]
struct DropCode;

#[zero_downtime(id = "items_drop_city", drop_column(table = "items", column = "city"))]
struct DropCity;

/// Two columns of one table dropped in one declaration: one view, without either.
#[zero_downtime(
    id = "items_drop_both",
    drop_column(table = "items", column = "code", down = "'down ' || name"),
    drop_column(table = "items", column = "city")
)]
struct DropBoth;

/// `items` with `ROWS` rows named `seed <id>`: `code` NOT NULL without a default (so the
/// new version's inserts need `down`), `city` nullable.
fn items(test: &str) -> (TestDb, Ledger) {
    let db = TestDb::new(test);
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', code text NOT NULL, \
                                 city text);
             INSERT INTO items (name, code, city) SELECT 'seed ' || n, 'seed', 'c' FROM generate_series(1, {ROWS}) AS n;"
        ))
        .unwrap();
    let ledger = Mutex::new((1..=ROWS).map(|id| (id, format!("seed {id}"))).collect());
    (db, ledger)
}

/// The columns of `schema`.`items`, in order.
fn view_columns(client: &mut Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'items' ORDER BY ordinal_position",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The old version writes `code` with every write until the contract, and again after its
/// reversal; the new version, deployed after sync as drop_column's deploy order says, reads
/// `SELECT *` and inserts without `code` through the view, which `down` fills. It stops
/// before sync's reversal (which drops the trigger its inserts need) and is deployed again
/// after sync; after the second contract the hidden column is purged while it writes on.
#[test]
fn drop_column_under_both_versions() {
    use Move::*;
    let (db, ledger) = items("vs_hidden_drop_column");
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE items SET name = $1, code = 'old' WHERE id = $2",
        "INSERT INTO items (name, code) VALUES ($1, 'old') RETURNING id",
        "SELECT name FROM items WHERE id = $1",
    );
    let new = Version::new(
        new_version_url(&db, &DropCode),
        "UPDATE items SET name = $1 WHERE id = $2",
        "INSERT INTO items (name) VALUES ($1) RETURNING id",
        "SELECT * FROM items WHERE id = $1",
    );
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let who = if index == 0 { "old" } else { "new" };
        let value = |call: u64| {
            let value = format!("{who} {call}");
            (value.clone(), value)
        };
        match index {
            0 => old.write::<String, String>(ledger, stop, 0, value),
            _ => new.write::<String, i64>(ledger, stop, 1_000_003, value),
        }
    };
    let moves = [
        Deploy(0),
        Run(Phase::Expand),
        Run(Phase::Sync),
        Deploy(1),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
        Revert(Phase::Contract),
        Deploy(0),
        Revert(Phase::Backfill),
        Stop(1),
        RevertStopped(Phase::Sync),
        RevertStopped(Phase::Expand),
        Run(Phase::Expand),
        Run(Phase::Sync),
        Deploy(1),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
    ];
    run_moves(&db, &[&DropCode], &[&old, &new], &write, &ledger, &moves);
    let mut client = db.connect();
    assert_rows_as_meant(&mut client, "SELECT id, name FROM items", ledger);
    let schema = zdm_plan::names::version_schema(DropCode.id());
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    // Every row has a value in the hidden column: the old version's, or `down`'s for a row
    // the new version inserted.
    let (unfilled, filled): (i64, i64) = {
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE zdm_items_drop_code_code IS NULL), \
                        count(*) FILTER (WHERE zdm_items_drop_code_code = 'down ' || name AND name LIKE 'new %') \
                 FROM items",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(unfilled, 0);
    assert!(filled > 0, "no row the new version inserted");
    db.runner().purge(&DropCode).unwrap();
    let mut new = zdm_suite::connect_or_exit(&new_version_url(&db, &DropCode));
    let inserted: i64 = new
        .query_one(
            "INSERT INTO items (name) VALUES ('after purge') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    let row = new
        .query_one("SELECT * FROM items WHERE id = $1", &[&inserted])
        .unwrap();
    assert_eq!(row.len(), 3);
    assert_eq!(row.get::<_, String>(1), "after purge");
}

/// From expand on the view lacks the column, through every phase, the contract's reversal
/// and purge; the contract hides the column under its reserved name without touching the
/// view, its reversal restores it with every value. Reverting sync, which drops the trigger
/// the new version's inserts need, is refused while it may run; without `down` sync did
/// nothing, so reverting it is not.
#[test]
fn drop_column_presents_the_table_without_the_column() {
    let (db, _) = items("vs_hidden_drop_view");
    let mut client = db.connect();
    let schema = zdm_plan::names::version_schema(DropCode.id());
    let running = || {
        db.runner_with(Options {
            new_version_stopped: false,
            ..test_options()
        })
    };
    let mut runner = running();
    runner.run(&DropCode, Phase::Expand).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    let mut new = zdm_suite::connect_or_exit(&new_version_url(&db, &DropCode));
    let error = new.query("SELECT code FROM items", &[]).unwrap_err();
    assert_eq!(error.code(), Some(&postgres::error::SqlState::UNDEFINED_COLUMN));
    runner.run(&DropCode, Phase::Sync).unwrap();
    let error = runner.revert(&DropCode, Phase::Sync).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "items_drop_code: refused before any change: reverting sync stops copying what the new version \
             writes through the version schema to the columns the old version reads; stop every application \
             version with {schema} on its search_path, then revert with --new-version-stopped \
             (Options::new_version_stopped)"
        )
    );
    let id: i64 = new
        .query_one(
            "INSERT INTO items (name) VALUES ('through the view') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    runner.run_to(&DropCode, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    let hidden: String = client
        .query_one("SELECT zdm_items_drop_code_code FROM items WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(hidden, "down through the view");
    new.execute("UPDATE items SET name = 'renamed' WHERE id = $1", &[&id])
        .unwrap();
    runner.revert(&DropCode, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    let code: String = client
        .query_one("SELECT code FROM items WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(code, "down through the view");
    runner.run(&DropCode, Phase::Contract).unwrap();
    runner.purge(&DropCode).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    let rows: i64 = new.query_one("SELECT count(*) FROM items", &[]).unwrap().get(0);
    assert_eq!(rows, ROWS + 1);

    let city = zdm_plan::names::version_schema(DropCity.id());
    runner.run_to(&DropCity, Phase::Sync).unwrap();
    assert_eq!(view_columns(&mut client, &city), ["id", "name"]);
    runner.revert(&DropCity, Phase::Sync).unwrap();
    let error = runner.revert(&DropCity, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("reverting expand drops the version schema the new version reads and writes through"),
        "{error}"
    );
    drop(runner);
    db.runner().revert(&DropCity, Phase::Expand).unwrap();
    assert_eq!(view_columns(&mut client, &city), Vec::<String>::new());
}

/// Two drop_columns of one table in one declaration present one view, without either column,
/// through the contract, its reversal and purge.
#[test]
fn two_drops_of_one_table_share_one_view() {
    let (db, _) = items("vs_hidden_drop_both");
    let mut client = db.connect();
    let schema = zdm_plan::names::version_schema(DropBoth.id());
    let mut runner = db.runner();
    runner.run(&DropBoth, Phase::Expand).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name"]);
    runner.run_to(&DropBoth, Phase::Contract).unwrap();
    runner.revert(&DropBoth, Phase::Contract).unwrap();
    runner.run(&DropBoth, Phase::Contract).unwrap();
    runner.purge(&DropBoth).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name"]);
    let mut new = zdm_suite::connect_or_exit(&new_version_url(&db, &DropBoth));
    let row = new
        .query_one("INSERT INTO items (name) VALUES ('both') RETURNING *", &[])
        .unwrap();
    assert_eq!(row.len(), 2);
}
