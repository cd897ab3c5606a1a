//! Version views that hide columns: drop_column's (the new version never sees the column it
//! drops), and split_table's while a later migration of the same source table is in flight
//! (whose contract retires the earlier view and whose reversal re-creates it). Old version
//! on the tables, new version through its version schema, statements prepared once.

mod mixed;

use std::sync::atomic::AtomicBool;

use mixed::{
    assert_column_unseen, assert_rows_as_meant, new_version_url, run_moves, view_columns, Ledger, Version,
    ROWS,
};
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

/// split_table of `items`, with later migrations of the same source table in flight.
#[zero_downtime(
    id = "items_split_up",
    split_table(
        table = "items",
        into(table = "item_names", columns = ["name", "code"]),
        into(table = "item_cities", columns = ["city"])
    )
)]
struct SplitItems;

/// A split of `items` once `DropCode` has completed and purged `code`.
#[zero_downtime(
    id = "items_split_rest",
    split_table(
        table = "items",
        into(table = "item_names", columns = ["name"]),
        into(table = "item_cities", columns = ["city"])
    )
)]
struct SplitRest;

/// A rename of a column the split moves: the split's trigger mentions it, which the rename
/// refuses to carry until told the trigger was checked (here it was: the rename is reverted
/// before the split's contract).
#[zero_downtime(
    id = "items_label",
    rename_column(table = "items", from = "name", to = "label", triggers_checked)
)]
struct RenameName;

/// `items` with `ROWS` rows named `seed <id>`: `code` NOT NULL without a default (so the
/// new version's inserts need `down`), `city` nullable.
fn items(test: &str) -> (TestDb, Ledger) {
    mixed::seeded(
        test,
        &format!(
            "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', code text NOT NULL, \
                                 city text);
             INSERT INTO items (name, code, city) SELECT 'seed ' || n, 'seed', 'c' FROM generate_series(1, {ROWS}) AS n;"
        ),
    )
}

/// The old version writes `code` with every write until the contract, and again after its
/// reversal; the new version, deployed after sync as drop_column's deploy order says, reads
/// `SELECT *` and inserts without `code` through the view, which `down` fills. It stops
/// before sync's reversal (which drops the trigger its inserts need) and is deployed again
/// after sync; after the second contract the hidden column is purged while it writes on.
#[test]
fn drop_column_under_both_versions() {
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
    let moves = mixed::every_phase_and_reversal_new_after(Phase::Sync);
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
    assert_column_unseen(&mut new, "SELECT code FROM items");
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
    // The row's value of `column`, on the table itself.
    let stored = |client: &mut Client, column: &str| -> String {
        client
            .query_one(&format!("SELECT {column} FROM items WHERE id = $1"), &[&id])
            .unwrap()
            .get(0)
    };
    runner.run_to(&DropCode, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    assert_eq!(
        stored(&mut client, "zdm_items_drop_code_code"),
        "down through the view"
    );
    new.execute("UPDATE items SET name = 'renamed' WHERE id = $1", &[&id])
        .unwrap();
    runner.revert(&DropCode, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), ["id", "name", "city"]);
    assert_eq!(stored(&mut client, "code"), "down through the view");
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

/// The view and grants of `schema`.`items`: its columns, and its ACL.
fn view_with_grants(client: &mut Client, schema: &str) -> (Vec<String>, Option<String>) {
    let acl: Option<String> = client
        .query_opt(
            "SELECT c.relacl::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'items'",
            &[&schema],
        )
        .unwrap()
        .and_then(|row| row.get(0));
    (view_columns(client, schema), acl)
}

/// split_table in flight (its view shows `items` as its key alone) while a later migration
/// of the same table runs to its contract, which retires the split's view as the old
/// version's, and back: the contract's reversal re-creates the split's view as it was, its
/// moved columns still hidden, with its owner and grants, and the new version of the split
/// reads and writes through it; then the later migration is reverted and the split goes on
/// to its contract, which it refuses before (the later migration's column, or its view of
/// `items`, would go with the table). Run for a rename of a moved column and a drop of one.
#[test]
fn split_table_view_survives_a_later_contract_and_its_reversal() {
    let refusals = [
        "expected every column of \"items\" in one of the new tables (a column added since expand would be lost \
         with the table; split it with a migration of its own), found 1 offending row(s); for example:\n  label",
        "expected no foreign key or view outside \"items\" using it (point them at the new tables first), found 1 \
         offending row(s); for example:\n  view zdm_v_items_drop_city.items",
    ];
    let laters = [&RenameName as &dyn Migration, &DropCity];
    for (index, (later, refusal)) in laters.into_iter().zip(refusals).enumerate() {
        let (db, _) = items(&format!("vs_hidden_split_later_{index}"));
        let mut client = db.connect();
        client
            .batch_execute("GRANT SELECT, INSERT ON items TO PUBLIC")
            .unwrap();
        let split = zdm_plan::names::version_schema(SplitItems.id());
        let mut runner = db.runner();
        runner.run_to(&SplitItems, Phase::Backfill).unwrap();
        let before = view_with_grants(&mut client, &split);
        assert_eq!(before.0, ["id"]);
        runner.run_to(later, Phase::Contract).unwrap();
        assert_eq!(
            view_with_grants(&mut client, &split),
            (vec![], None),
            "{}: the later contract retires the split's view",
            later.id()
        );
        runner.revert(later, Phase::Contract).unwrap();
        assert_eq!(view_with_grants(&mut client, &split), before, "{}", later.id());
        let mut new = zdm_suite::connect_or_exit(&new_version_url(&db, &SplitItems));
        let row = new.query_one("SELECT * FROM items WHERE id = 1", &[]).unwrap();
        assert_eq!(row.len(), 1);
        assert_column_unseen(&mut new, "SELECT name FROM items");
        let name: String = new
            .query_one("SELECT name FROM item_names WHERE id = 1", &[])
            .unwrap()
            .get(0);
        assert_eq!(name, "seed 1");
        // Not before the later migration is reverted: its view of `items` serves the newest
        // version, and a column it added would go with the table.
        let error = runner.run(&SplitItems, Phase::Contract).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("items_split_up: contract refused before any lock-heavy step: {refusal}")
        );
        runner.revert(later, Phase::Backfill).unwrap();
        runner.revert(later, Phase::Sync).unwrap();
        runner.revert(later, Phase::Expand).unwrap();
        assert_eq!(view_with_grants(&mut client, &split), before, "{}", later.id());
        runner.run(&SplitItems, Phase::Contract).unwrap();
        let names: i64 = new
            .query_one("SELECT count(*) FROM item_names JOIN item_cities USING (id)", &[])
            .unwrap()
            .get(0);
        assert_eq!(names, ROWS);
    }
}

/// An earlier migration's version view over the split's source (drop_column's, after its
/// contract and purge): the split's contract retires it and drops the table; the contract's
/// reversal rebuilds the table, under a new object id, and re-creates the earlier view over
/// it as it was, with its grants, beside the split's own; the contract runs again.
#[test]
fn an_earlier_view_comes_back_over_the_table_a_split_rebuilt() {
    let (db, _) = items("vs_hidden_split_earlier");
    let mut client = db.connect();
    client
        .batch_execute("GRANT SELECT, INSERT ON items TO PUBLIC")
        .unwrap();
    let mut runner = db.runner();
    runner.run_to(&DropCode, Phase::Contract).unwrap();
    runner.purge(&DropCode).unwrap();
    let dropped = zdm_plan::names::version_schema(DropCode.id());
    let split = zdm_plan::names::version_schema(SplitRest.id());
    let before = view_with_grants(&mut client, &dropped);
    assert_eq!(before.0, ["id", "name", "city"]);
    runner.run_to(&SplitRest, Phase::Backfill).unwrap();
    assert_eq!(view_columns(&mut client, &split), ["id"]);
    runner.run(&SplitRest, Phase::Contract).unwrap();
    assert_eq!(view_with_grants(&mut client, &dropped), (vec![], None));
    runner.revert(&SplitRest, Phase::Contract).unwrap();
    assert_eq!(view_with_grants(&mut client, &dropped), before);
    assert_eq!(view_columns(&mut client, &split), ["id"]);
    let mut old = zdm_suite::connect_or_exit(&new_version_url(&db, &DropCode));
    let name: String = old
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "seed 1");
    runner.run(&SplitRest, Phase::Contract).unwrap();
    assert_eq!(view_with_grants(&mut client, &dropped), (vec![], None));
}
