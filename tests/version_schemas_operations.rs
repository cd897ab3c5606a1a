//! Mixed-version runs of the operations without a version view (add_column, rename_table,
//! add_not_null, add_index, add_foreign_key) and of split_table, whose version schema shows
//! the source without its moved columns: the old version on the tables, the new version
//! with `search_path` = `version_search_path(…)` + `public`, both with statements prepared
//! once, writing through every phase and every reversal, then forward again; no write of
//! either version fails, and every row holds what its last writer meant. Each version stops
//! where the deploy order says: the old one before contract (it may run again after the
//! contract's reversal), the new one before the reversal of expand, which takes away what
//! it uses.

mod mixed;

use mixed::{
    assert_column_unseen, every_phase_and_reversal, old_version, run_both, version_path_url, view_columns,
    Ledger, Move, Version, OLD_INSERT, OLD_READ, OLD_UPDATE, ROWS,
};
use zdm_runtime::{zero_downtime, Migration, Phase};
use zdm_suite::TestDb;

/// The owners `add_foreign_key` references, made beside `items`.
const OWNERS: &str = "CREATE TABLE owners (id bigint PRIMARY KEY); INSERT INTO owners VALUES (1), (2);";

fn items(test: &str) -> (TestDb, Ledger) {
    mixed::items(test, OWNERS)
}

#[zero_downtime(id = "items_note", add_column(table = "items", column = "note", ty = "text"))]
struct AddNote;

#[zero_downtime(id = "items_to_goods", rename_table(from = "items", to = "goods"))]
struct RenameItems;

#[zero_downtime(
    id = "items_city_required",
    add_not_null(table = "items", column = "city", backfill = "'none'")
)]
struct RequireCity;

#[zero_downtime(id = "items_by_name", add_index(table = "items", columns = ["name"]))]
struct ItemsByName;

#[zero_downtime(
    id = "items_owner",
    add_foreign_key(table = "items", column = "owner_id", references = "owners", ty = "bigint")
)]
struct ItemsOwner;

#[zero_downtime(
    id = "items_split",
    split_table(
        table = "items",
        into(table = "item_names", columns = ["name"]),
        into(table = "item_cities", columns = ["city"])
    )
)]
struct SplitItems;

/// The new version writes the new column with every write; the old one leaves it out.
#[test]
fn add_column_under_both_versions() {
    let (db, ledger) = items("vs_op_add_column");
    let new = Version::new(
        version_path_url(&db, &[&AddNote]),
        "UPDATE items SET name = $1, note = $1 WHERE id = $2",
        "INSERT INTO items (name, note) VALUES ($1, $1) RETURNING id",
        "SELECT note FROM items WHERE id = $1",
    );
    run_both(
        &db,
        &[&AddNote],
        &old_version(&db),
        &new,
        ledger,
        "SELECT id, name FROM items",
        &every_phase_and_reversal(),
    );
}

/// The new version writes `goods` from the end of expand; the old one writes `items`, the
/// table until expand, the view over `goods` after it, again after the contract's reversal.
#[test]
fn rename_table_under_both_versions() {
    let (db, ledger) = items("vs_op_rename_table");
    let new = Version::new(
        version_path_url(&db, &[&RenameItems]),
        "UPDATE goods SET name = $1 WHERE id = $2",
        "INSERT INTO goods (name) VALUES ($1) RETURNING id",
        "SELECT name FROM goods WHERE id = $1",
    );
    run_both(
        &db,
        &[&RenameItems],
        &old_version(&db),
        &new,
        ledger,
        "SELECT id, name FROM goods",
        &every_phase_and_reversal(),
    );
}

/// The old version writes NULL cities, which the sync trigger fills while it runs; the new
/// version always writes one.
#[test]
fn add_not_null_under_both_versions() {
    let (db, ledger) = items("vs_op_add_not_null");
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE items SET name = $1, city = NULL WHERE id = $2",
        "INSERT INTO items (name, city) VALUES ($1, NULL) RETURNING id",
        OLD_READ,
    );
    let new = Version::new(
        version_path_url(&db, &[&RequireCity]),
        "UPDATE items SET name = $1, city = 'x' WHERE id = $2",
        "INSERT INTO items (name, city) VALUES ($1, 'x') RETURNING id",
        "SELECT city FROM items WHERE id = $1",
    );
    run_both(
        &db,
        &[&RequireCity],
        &old,
        &new,
        ledger,
        "SELECT id, name FROM items",
        &every_phase_and_reversal(),
    );
    let nulls: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM items WHERE city IS NULL", &[])
        .unwrap()
        .get(0);
    assert_eq!(nulls, 0);
}

/// The index is built and dropped concurrently while both versions write.
#[test]
fn add_index_under_both_versions() {
    let (db, ledger) = items("vs_op_add_index");
    let new = Version::new(
        version_path_url(&db, &[&ItemsByName]),
        OLD_UPDATE,
        OLD_INSERT,
        "SELECT name FROM items WHERE name = (SELECT name FROM items WHERE id = $1) LIMIT 1",
    );
    run_both(
        &db,
        &[&ItemsByName],
        &old_version(&db),
        &new,
        ledger,
        "SELECT id, name FROM items",
        &every_phase_and_reversal(),
    );
}

/// The new version sets an owner with every write; the old one leaves it NULL on insert and
/// as it was on update, which the constraint accepts.
#[test]
fn add_foreign_key_under_both_versions() {
    let (db, ledger) = items("vs_op_add_foreign_key");
    let new = Version::new(
        version_path_url(&db, &[&ItemsOwner]),
        "UPDATE items SET name = $1, owner_id = 1 + length($1) % 2 WHERE id = $2",
        "INSERT INTO items (name, owner_id) VALUES ($1, 1 + length($1) % 2) RETURNING id",
        "SELECT owner_id::text FROM items WHERE id = $1",
    );
    run_both(
        &db,
        &[&ItemsOwner],
        &old_version(&db),
        &new,
        ledger,
        "SELECT id, name FROM items",
        &every_phase_and_reversal(),
    );
    let constrained: bool = db
        .connect()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'items_owner_id_fkey' AND convalidated)",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(constrained);
}

/// The old version writes `items`; the new one, deployed after backfill as split_table's rules
/// say, writes the new tables (a new key into both in one statement), which resolve through
/// the rest of its search path, across the contract, its reversal and the contract again.
#[test]
fn split_table_under_both_versions() {
    use Move::*;
    let (db, ledger) = items("vs_op_split_table");
    let new = Version::new(
        version_path_url(&db, &[&SplitItems]),
        "UPDATE item_names SET name = $1 WHERE id = $2",
        "WITH named AS (INSERT INTO item_names (name) VALUES ($1) RETURNING id) \
         INSERT INTO item_cities (id, city) SELECT id, 'x' FROM named RETURNING id",
        "SELECT name FROM item_names WHERE id = $1",
    );
    let moves = [
        Deploy(0),
        Run(Phase::Expand),
        Run(Phase::Sync),
        Run(Phase::Backfill),
        Deploy(1),
        Stop(0),
        Run(Phase::Contract),
        Revert(Phase::Contract),
        Deploy(0),
        Stop(0),
        Run(Phase::Contract),
    ];
    run_both(
        &db,
        &[&SplitItems],
        &old_version(&db),
        &new,
        ledger,
        "SELECT id, name FROM item_names",
        &moves,
    );
}

/// From expand on, the new version sees `items` as its key alone: the moved columns are
/// found only in the new tables. Contract drops the view with the table, in the same
/// transaction; its reversal shows the rebuilt table the same way again.
#[test]
fn split_table_presents_the_source_without_its_moved_columns() {
    let (db, _) = items("vs_op_split_view");
    let schema = zdm_plan::names::version_schema(SplitItems.id());
    let mut client = db.connect();
    let mut runner = db.runner();
    runner.run(&SplitItems, Phase::Expand).unwrap();
    assert_eq!(view_columns(&mut client, &schema), vec!["id"]);
    let mut new = zdm_suite::connect_or_exit(&version_path_url(&db, &[&SplitItems]));
    assert_column_unseen(&mut new, "SELECT name FROM items");
    runner.run_to(&SplitItems, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), Vec::<String>::new());
    runner.revert(&SplitItems, Phase::Contract).unwrap();
    assert_eq!(view_columns(&mut client, &schema), vec!["id"]);
    let names: i64 = new
        .query_one("SELECT count(*) FROM items JOIN item_names USING (id)", &[])
        .unwrap()
        .get(0);
    assert_eq!(names, ROWS);
}

/// `check_ready`, which a new application version calls at startup: refused, naming the
/// migration and its version schema, until every migration of its list has completed
/// expand (a role that may not read the state gets the server's refusal); after the
/// contract the version schema may be gone (here `drop-version-schema`)
/// and the version still starts, since the tables have its shape; once that contract is
/// reverted without the schema, it is refused again.
#[test]
fn check_ready_refuses_a_new_version_before_expand() {
    let (db, _) = items("vs_op_ready");
    let mut client = db.connect();
    let migrations: [&dyn Migration; 2] = [&ItemsByName, &SplitItems];
    let ready = |client: &mut postgres::Client| {
        zdm_runtime::check_ready(client, &migrations, "zdm").map_err(|error| error.to_string())
    };
    assert_eq!(
        ready(&mut client),
        Err("items_by_name: expand has not completed, so the tables do not have the shape the new application \
             version uses; complete expand (`up items_by_name --to expand`) before starting that version"
            .to_owned())
    );
    let mut runner = db.runner();
    runner.run(&ItemsByName, Phase::Expand).unwrap();
    assert_eq!(
        ready(&mut client),
        Err(
            "items_split: expand has not completed, so the version schema zdm_v_items_split does not exist \
             and an application version with it on its search_path would find the tables in their old shape; \
             complete expand (`up items_split --to expand`) before starting that version"
                .to_owned()
        )
    );
    runner.run(&SplitItems, Phase::Expand).unwrap();
    assert_eq!(ready(&mut client), Ok(()));
    // A role that may not read the state is told so, never that expand has not run.
    client
        .batch_execute(
            "DROP ROLE IF EXISTS zdm_ready_app; CREATE ROLE zdm_ready_app NOLOGIN; SET ROLE zdm_ready_app",
        )
        .unwrap();
    let denied = zdm_runtime::check_ready(&mut client, &migrations, "zdm").unwrap_err();
    match &denied {
        zdm_runtime::Error::State(error) => {
            assert_eq!(
                error.code(),
                Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{denied}"
            )
        }
        other => panic!("expected a state error, got {other}"),
    }
    client
        .batch_execute("RESET ROLE; DROP ROLE zdm_ready_app")
        .unwrap();
    runner.run_to(&SplitItems, Phase::Contract).unwrap();
    runner.drop_version_schema(&SplitItems).unwrap();
    assert_eq!(ready(&mut client), Ok(()));
    runner.revert(&SplitItems, Phase::Contract).unwrap();
    assert_eq!(
        ready(&mut client),
        Err("items_split: the version schema zdm_v_items_split has no views, though backfill has completed and \
             contract has not (dropped after the contract, which was then reverted, or outside zdm, or a \
             reversal of expand under way); start that version once the migration has been reverted to pending \
             (`revert items_split --to pending --new-version-stopped`) and expand has run again"
            .to_owned())
    );
}
