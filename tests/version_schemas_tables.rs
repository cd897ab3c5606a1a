//! Mixed-version runs of the operations that make or set aside tables, columns, types and
//! checks (create_table, drop_table, drop_column, sql, add_check with and without `fix`,
//! create_enum with add_column in one declaration, add_enum_value): none has a version
//! view, so the new version's `search_path` (`version_search_path(…)` + `public`) resolves
//! to the tables. The old version writes the tables, the new one through its path, both
//! with statements prepared once, through every phase and every reversal, then forward
//! again: no write of either version fails, and every row holds what its last writer meant.
//! The old version stops before each contract and runs again after its reversal; the new
//! one is deployed after expand and stops before expand's reversal.

mod mixed;

use mixed::{
    every_phase_and_reversal, items, old_version, run_both, version_path_url, Ledger, Move, Version,
    OLD_READ, ROWS,
};
use zdm_runtime::{zero_downtime, Migration, Phase};
use zdm_suite::{scalar, TestDb};

#[zero_downtime(
    id = "items_events",
    create_table(
        table = "item_events",
        column(name = "id", ty = "bigint"),
        column(name = "item_id", ty = "bigint", not_null, references = "items"),
        column(name = "note", ty = "text"),
        primary_key = "id"
    )
)]
struct CreateEvents;

#[zero_downtime(id = "items_legacy_gone", drop_table(table = "legacy"))]
struct DropLegacy;

#[zero_downtime(
    id = "items_drop_city",
    drop_column(table = "items", column = "city", down = "'d'")
)]
struct DropCity;

#[zero_downtime(
    id = "items_raw_note",
    sql(
        up = "ALTER TABLE items ADD COLUMN note text",
        down = "ALTER TABLE items DROP COLUMN IF EXISTS note",
        lock = "ACCESS EXCLUSIVE"
    )
)]
struct RawNote;

#[zero_downtime(
    id = "items_name_short",
    add_check(table = "items", name = "items_name_short", check = "length(name) < 40")
)]
struct NameShort;

#[zero_downtime(
    id = "items_qty_fixed",
    add_check(
        table = "items",
        name = "items_qty_not_negative",
        check = "qty >= 0",
        fix_column = "qty",
        fix = "abs(qty)"
    )
)]
struct QtyFixed;

#[zero_downtime(
    id = "items_city_filled",
    add_not_null(table = "items", column = "city", backfill = "'none'")
)]
struct CityFilled;

/// A mood for each item: the type and the column that uses it, one declaration.
#[zero_downtime(
    id = "items_mood",
    create_enum(name = "mood", values = ["sad", "ok"]),
    add_column(table = "items", column = "mood", ty = "\"mood\"")
)]
struct ItemsMood;

#[zero_downtime(
    id = "items_mood_glad",
    add_enum_value(name = "mood", value = "glad", after = "ok")
)]
struct MoodGlad;

const NAMES: &str = "SELECT id, name FROM items";

/// Every phase and every reversal of `migrations` while `old` and `new` write names, then
/// every name checked against the ledger.
fn names_through_every_phase(
    db: &TestDb,
    migrations: &[&dyn Migration],
    old: &Version,
    new: &Version,
    ledger: Ledger,
) {
    run_both(
        db,
        migrations,
        old,
        new,
        ledger,
        NAMES,
        &every_phase_and_reversal(),
    );
}

/// The new version of an application whose statements did not change: the old version's,
/// through the search path of `migrations`.
fn same_statements(db: &TestDb, migrations: &[&dyn Migration]) -> Version {
    Version::new(
        version_path_url(db, migrations),
        mixed::OLD_UPDATE,
        mixed::OLD_INSERT,
        OLD_READ,
    )
}

/// The new version reads each item with its events, through the table expand makes; it
/// writes none, since expand's reversal drops the table only while it is empty (with rows,
/// only under `--allow-data-loss`, which tests/table_operations.rs covers).
#[test]
fn create_table_under_both_versions() {
    let (db, ledger) = items("vs_cat_create_table", "");
    let new = Version::new(
        version_path_url(&db, &[&CreateEvents]),
        mixed::OLD_UPDATE,
        mixed::OLD_INSERT,
        "SELECT i.name FROM items AS i LEFT JOIN item_events AS e ON e.item_id = i.id WHERE i.id = $1 LIMIT 1",
    );
    names_through_every_phase(&db, &[&CreateEvents], &old_version(&db), &new, ledger);
}

/// The old version logs every write into `legacy`, which the new one no longer uses; the
/// contract sets it aside with every row, its reversal puts it back for the old version.
#[test]
fn drop_table_under_both_versions() {
    let (db, ledger) = items(
        "vs_cat_drop_table",
        "CREATE TABLE legacy (id bigserial PRIMARY KEY, note text NOT NULL)",
    );
    let old = Version::new(
        db.url().to_owned(),
        "WITH l AS (INSERT INTO legacy (note) VALUES ($1)) UPDATE items SET name = $1 WHERE id = $2",
        "WITH l AS (INSERT INTO legacy (note) VALUES ($1)) INSERT INTO items (name) VALUES ($1) RETURNING id",
        OLD_READ,
    );
    let new = same_statements(&db, &[&DropLegacy]);
    names_through_every_phase(&db, &[&DropLegacy], &old, &new, ledger);
    let kept: i64 = scalar(
        &mut db.connect(),
        "SELECT count(*) FROM zdm.items_legacy_gone_dropped",
    );
    assert_eq!(
        kept as u64,
        old.writes(),
        "every row the old version logged is kept"
    );
}

/// The old version writes the city; the new one, deployed after sync as drop_column's
/// deploy order says, leaves it out, and the `down` trigger gives its inserts one.
#[test]
fn drop_column_under_both_versions() {
    let (db, ledger) = items("vs_cat_drop_column", "");
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE items SET name = $1, city = 'o' WHERE id = $2",
        "INSERT INTO items (name, city) VALUES ($1, 'o') RETURNING id",
        "SELECT city FROM items WHERE id = $1",
    );
    let new = same_statements(&db, &[&DropCity]);
    let moves = mixed::every_phase_and_reversal_new_after(Phase::Sync);
    run_both(&db, &[&DropCity], &old, &new, ledger, NAMES, &moves);
    let cityless: i64 = scalar(
        &mut db.connect(),
        &format!("SELECT count(*) FROM items WHERE id > {ROWS} AND zdm_items_drop_city_city IS NULL"),
    );
    assert_eq!(
        cityless, 0,
        "every inserted row has a city, its writer's or `down`'s"
    );
}

/// The new version writes the column the raw SQL adds, as for add_column.
#[test]
fn sql_under_both_versions() {
    let (db, ledger) = items("vs_cat_sql", "");
    let new = Version::new(
        version_path_url(&db, &[&RawNote]),
        "UPDATE items SET name = $1, note = $1 WHERE id = $2",
        "INSERT INTO items (name, note) VALUES ($1, $1) RETURNING id",
        "SELECT note FROM items WHERE id = $1",
    );
    names_through_every_phase(&db, &[&RawNote], &old_version(&db), &new, ledger);
}

/// Both versions write names the check accepts, as an application whose new version
/// declares the rule writes only what it allows and whose old version (without `fix`,
/// refused from expand on) must already keep to it.
#[test]
fn add_check_under_both_versions() {
    let (db, ledger) = items("vs_cat_add_check", "");
    let new = same_statements(&db, &[&NameShort]);
    names_through_every_phase(&db, &[&NameShort], &old_version(&db), &new, ledger);
    let valid: bool = scalar(
        &mut db.connect(),
        "SELECT convalidated FROM pg_constraint WHERE conname = 'items_name_short'",
    );
    assert!(valid);
}

/// Every fifth seed row breaks the check, which the backfill fixes; both versions write a
/// quantity the check accepts (the number in the name they write). A row written after the
/// backfill keeps its write through the backfill's reversal, which gives the old value back
/// only to rows that still hold the value the fix wrote. A seed row no version wrote ends as
/// the fix made it (the run ends after backfill); the quantities are far from the ones the
/// versions write, so a restored or fixed value never equals a written one.
#[test]
fn add_check_with_a_fix_under_both_versions() {
    let (db, ledger) = items(
        "vs_cat_add_check_fix",
        "ALTER TABLE items ADD COLUMN qty bigint;
         UPDATE items SET qty = CASE WHEN id % 5 = 0 THEN -(id + 100000000) ELSE id + 100000000 END;",
    );
    let version = |url: String| {
        Version::new(
            url,
            "UPDATE items SET name = $1, qty = split_part($1, ' ', 2)::bigint WHERE id = $2",
            "INSERT INTO items (name, qty) VALUES ($1, split_part($1, ' ', 2)::bigint) RETURNING id",
            "SELECT qty::text FROM items WHERE id = $1",
        )
    };
    run_both(
        &db,
        &[&QtyFixed],
        &version(db.url().to_owned()),
        &version(version_path_url(&db, &[&QtyFixed])),
        ledger,
        "SELECT id, name || CASE WHEN qty = CASE WHEN name LIKE 'seed %' THEN id + 100000000 \
         ELSE split_part(name, ' ', 2)::bigint END THEN '' ELSE ' but qty ' || qty END FROM items",
        &every_phase_and_reversal(),
    );
}

/// One declaration makes the type and the column; a second adds a value. The new version
/// writes the column with the values the type has in every phase it runs: a row holding
/// the added value would keep that value's expand from being reverted (PostgreSQL cannot
/// drop it), so an application writes it only once no reversal of it is planned.
#[test]
fn create_enum_and_add_enum_value_under_both_versions() {
    use Move::*;
    let (db, ledger) = items("vs_cat_enum", "");
    let new = Version::new(
        version_path_url(&db, &[&ItemsMood, &MoodGlad]),
        "UPDATE items SET name = $1, mood = (CASE WHEN length($1) % 2 = 0 THEN 'sad' ELSE 'ok' END)::mood \
         WHERE id = $2",
        "INSERT INTO items (name, mood) VALUES ($1, 'ok') RETURNING id",
        "SELECT mood::text FROM items WHERE id = $1",
    );
    let forward = |moves: &mut Vec<Move>| {
        moves.extend([RunOf(0, Phase::Expand), Deploy(1)]);
        moves.extend([Phase::Sync, Phase::Backfill].map(|phase| RunOf(0, phase)));
        moves.extend(Phase::ALL.map(|phase| RunOf(1, phase)));
        moves.extend([Stop(0), RunOf(0, Phase::Contract)]);
    };
    let mut moves = vec![Deploy(0)];
    forward(&mut moves);
    moves.extend([RevertOf(0, Phase::Contract), Deploy(0)]);
    moves.extend(Phase::ALL.into_iter().rev().map(|phase| RevertOf(1, phase)));
    moves.extend([RevertOf(0, Phase::Backfill), RevertOf(0, Phase::Sync), Stop(1)]);
    moves.push(RevertOf(0, Phase::Expand));
    forward(&mut moves);
    run_both(
        &db,
        &[&ItemsMood, &MoodGlad],
        &old_version(&db),
        &new,
        ledger,
        NAMES,
        &moves,
    );
    let labels: Vec<String> = scalar(&mut db.connect(), "SELECT enum_range(NULL::mood)::text[]");
    assert_eq!(labels, ["sad", "ok", "glad"]);
}

/// add_not_null's backfill fills two seed rows in three; both versions write a city with
/// every write (the number in the name they write). A row written after the backfill keeps
/// its city through the backfill's reversal, which gives NULL back only to rows that still
/// hold the value the backfill filled in. A seed row no version wrote ends with its own city
/// or, filled by the last backfill, `none`.
#[test]
fn add_not_null_backfill_reversal_keeps_later_writes() {
    let (db, ledger) = items("vs_cat_add_not_null", "");
    let version = |url: String| {
        Version::new(
            url,
            "UPDATE items SET name = $1, city = split_part($1, ' ', 2) WHERE id = $2",
            "INSERT INTO items (name, city) VALUES ($1, split_part($1, ' ', 2)) RETURNING id",
            "SELECT city FROM items WHERE id = $1",
        )
    };
    run_both(
        &db,
        &[&CityFilled],
        &version(db.url().to_owned()),
        &version(version_path_url(&db, &[&CityFilled])),
        ledger,
        "SELECT id, name || CASE WHEN city = CASE WHEN name LIKE 'seed %' THEN \
         CASE WHEN id % 3 = 0 THEN 'c' ELSE 'none' END ELSE split_part(name, ' ', 2) END \
         THEN '' ELSE ' but city ' || coalesce(city, 'NULL') END FROM items",
        &every_phase_and_reversal(),
    );
}
