//! Mixed-version runs of the catalog operations (drop_index, rename_index,
//! set_replica_identity, set_default, drop_default, drop_not_null, drop_constraint,
//! rename_constraint) and of add_unique and add_primary_key: none has a version view, so the
//! new version's `search_path` (`version_search_path(…)` + `public`) resolves to the
//! tables. The old version writes the tables, the new one through its path, both with
//! statements prepared once, through every phase and every reversal, then forward again:
//! no write of either version fails, and every row holds what its last writer meant. The
//! old version stops before each contract and runs again after its reversal; the new one is
//! deployed after expand and stops before expand's reversal.

mod mixed;

use mixed::{
    every_phase_and_reversal, items, old_version, run_both, version_path_url, Version, OLD_INSERT,
    OLD_UPDATE, ROWS,
};
use zdm_runtime::{zero_downtime, Migration};
use zdm_suite::TestDb;

#[zero_downtime(
    id = "items_name_idx_gone",
    drop_index(table = "items", index = "items_name_idx")
)]
struct DropNameIndex;

#[zero_downtime(
    id = "items_name_idx_renamed",
    rename_index(table = "items", from = "items_name_idx", to = "items_by_name")
)]
struct RenameNameIndex;

#[zero_downtime(
    id = "items_replica_full",
    set_replica_identity(table = "items", identity = "full")
)]
struct ReplicaFull;

#[zero_downtime(
    id = "items_city_default",
    set_default(table = "items", column = "city", default = "'x'")
)]
struct CityDefault;

#[zero_downtime(id = "items_city_no_default", drop_default(table = "items", column = "city"))]
struct CityNoDefault;

#[zero_downtime(id = "items_name_nullable", drop_not_null(table = "items", column = "name"))]
struct NameNullable;

#[zero_downtime(
    id = "items_name_short_gone",
    drop_constraint(table = "items", constraint = "items_name_short")
)]
struct DropNameShort;

#[zero_downtime(
    id = "items_name_short_renamed",
    rename_constraint(table = "items", from = "items_name_short", to = "items_name_under_40")
)]
struct RenameNameShort;

#[zero_downtime(id = "items_name_unique", add_unique(table = "items", columns = ["name"]))]
struct NameUnique;

#[zero_downtime(id = "items_keyed", add_primary_key(table = "items", columns = ["id"]))]
struct ItemsKeyed;

const NAMES: &str = "SELECT id, name FROM items";
const NAME_INDEX: &str = "CREATE INDEX items_name_idx ON items (name)";
const NAME_SHORT: &str = "ALTER TABLE items ADD CONSTRAINT items_name_short CHECK (length(name) < 40)";
/// A read by name, which the index serves while it is there.
const BY_NAME: &str = "SELECT name FROM items WHERE name = (SELECT name FROM items WHERE id = $1) LIMIT 1";

/// Runs the old version on the tables and the new one, with `update`, `insert` and `read`,
/// through `migration`'s every phase and reversal, then checks the names.
fn run(db: &TestDb, migration: &dyn Migration, ledger: mixed::Ledger, new: [&'static str; 3]) {
    let [update, insert, read] = new;
    let new = Version::new(version_path_url(db, &[migration]), update, insert, read);
    run_both(
        db,
        &[migration],
        &old_version(db),
        &new,
        ledger,
        NAMES,
        &every_phase_and_reversal(),
    );
}

fn scalar<T: for<'a> postgres::types::FromSql<'a>>(db: &TestDb, query: &str) -> T {
    db.connect().query_one(query, &[]).unwrap().get(0)
}

/// The index both versions read by goes at contract and comes back, built concurrently,
/// at its reversal, under their writes.
#[test]
fn drop_index_under_both_versions() {
    let (db, ledger) = items("vs_cat_drop_index", NAME_INDEX);
    run(&db, &DropNameIndex, ledger, [OLD_UPDATE, OLD_INSERT, BY_NAME]);
    assert!(scalar::<Option<String>>(&db, "SELECT to_regclass('items_name_idx')::text").is_none());
}

#[test]
fn rename_index_under_both_versions() {
    let (db, ledger) = items("vs_cat_rename_index", NAME_INDEX);
    run(&db, &RenameNameIndex, ledger, [OLD_UPDATE, OLD_INSERT, BY_NAME]);
    assert!(scalar::<Option<String>>(&db, "SELECT to_regclass('items_by_name')::text").is_some());
}

#[test]
fn set_replica_identity_under_both_versions() {
    let (db, ledger) = items("vs_cat_replica_identity", "");
    run(
        &db,
        &ReplicaFull,
        ledger,
        [OLD_UPDATE, OLD_INSERT, "SELECT city FROM items WHERE id = $1"],
    );
    let identity: i8 = scalar(&db, "SELECT relreplident FROM pg_class WHERE relname = 'items'");
    assert_eq!(identity as u8, b'f');
}

/// Both versions' inserts leave the city out: the table's default, then the declared one,
/// and the recorded one again after expand's reversal, gives it one.
#[test]
fn set_default_under_both_versions() {
    let (db, ledger) = items(
        "vs_cat_set_default",
        "ALTER TABLE items ALTER COLUMN city SET DEFAULT 'c'",
    );
    run(
        &db,
        &CityDefault,
        ledger,
        [OLD_UPDATE, OLD_INSERT, "SELECT city FROM items WHERE id = $1"],
    );
    let cityless: i64 = scalar(
        &db,
        &format!("SELECT count(*) FROM items WHERE city IS NULL AND id > {ROWS}"),
    );
    assert_eq!(cityless, 0, "every insert got a default");
}

/// The old version's inserts rely on the default, which stays until contract, when the old
/// version has stopped, and comes back with the contract's reversal, before it runs again;
/// the new version names the city in every insert.
#[test]
fn drop_default_under_both_versions() {
    let (db, ledger) = items(
        "vs_cat_drop_default",
        "UPDATE items SET city = 'c'; ALTER TABLE items ALTER COLUMN city SET DEFAULT 'c'",
    );
    run(
        &db,
        &CityNoDefault,
        ledger,
        [
            "UPDATE items SET name = $1, city = 'n' WHERE id = $2",
            "INSERT INTO items (name, city) VALUES ($1, 'n') RETURNING id",
            "SELECT city FROM items WHERE id = $1",
        ],
    );
    let cityless: i64 = scalar(&db, "SELECT count(*) FROM items WHERE city IS NULL");
    assert_eq!(cityless, 0, "every insert of the old version got the default");
}

/// The new version may write NULL names from expand on, but the reversal of expand (which
/// counts NULLs and refuses while any remain) is part of the run, so it writes names, as an
/// application that may still go back does until that reversal is no longer planned.
#[test]
fn drop_not_null_under_both_versions() {
    let (db, ledger) = items("vs_cat_drop_not_null", "");
    run(
        &db,
        &NameNullable,
        ledger,
        [OLD_UPDATE, OLD_INSERT, mixed::OLD_READ],
    );
    let nullable: bool = scalar(
        &db,
        "SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'name'",
    );
    assert!(nullable);
}

/// Both versions write names the check accepts: the contract's reversal puts the check back
/// and validates it, which a longer name written after the contract would refuse.
#[test]
fn drop_constraint_under_both_versions() {
    let (db, ledger) = items("vs_cat_drop_constraint", NAME_SHORT);
    run(
        &db,
        &DropNameShort,
        ledger,
        [OLD_UPDATE, OLD_INSERT, mixed::OLD_READ],
    );
    let checks: i64 = scalar(
        &db,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'items'::regclass AND contype = 'c'",
    );
    assert_eq!(checks, 0);
}

#[test]
fn rename_constraint_under_both_versions() {
    let (db, ledger) = items("vs_cat_rename_constraint", NAME_SHORT);
    run(
        &db,
        &RenameNameShort,
        ledger,
        [OLD_UPDATE, OLD_INSERT, mixed::OLD_READ],
    );
    let valid: bool = scalar(
        &db,
        "SELECT convalidated FROM pg_constraint WHERE conname = 'items_name_under_40'",
    );
    assert!(valid);
}

/// Every name either version writes is its own (`old <n>`, `new <n>`, each call once), as
/// the new version's rule requires; the old version's names are unique too, as an old
/// version must keep to a rule the index enforces from expand on.
#[test]
fn add_unique_under_both_versions() {
    let (db, ledger) = items("vs_cat_add_unique", "");
    run(&db, &NameUnique, ledger, [OLD_UPDATE, OLD_INSERT, BY_NAME]);
    let unique: i64 = scalar(
        &db,
        "SELECT count(*) FROM pg_constraint WHERE conname = 'items_name_key'",
    );
    assert_eq!(unique, 1);
}

/// `items` without its key: both versions update by id, which the key serves from expand on.
#[test]
fn add_primary_key_under_both_versions() {
    let (db, ledger) = items(
        "vs_cat_add_primary_key",
        "ALTER TABLE items DROP CONSTRAINT items_pkey",
    );
    run(
        &db,
        &ItemsKeyed,
        ledger,
        [OLD_UPDATE, OLD_INSERT, mixed::OLD_READ],
    );
    let key: i64 = scalar(
        &db,
        "SELECT count(*) FROM pg_constraint WHERE conname = 'items_pkey' AND contype = 'p'",
    );
    assert_eq!(key, 1);
}
