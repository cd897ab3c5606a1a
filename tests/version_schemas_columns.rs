//! Mixed-version runs of the column operations other than change_type (which
//! tests/version_schemas.rs covers): the old version on the tables, the new version through
//! its version schema, both with statements prepared once, writing through every phase,
//! the contract's reversal and forward again; no write of either fails, and every row holds
//! what its last writer meant.

mod mixed;

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use mixed::{assert_rows_as_meant, new_version_url, run_moves, Ledger, Move, Version, ROWS};
use zdm_runtime::{zero_downtime, Migration, Phase};
use zdm_suite::TestDb;

#[zero_downtime(
    id = "customers_full_name",
    rename_column(table = "customers", from = "name", to = "full_name")
)]
struct RenameName;

/// A later migration of the same table while `RenameName` is in flight: balances were
/// integer cents, the newest version writes numeric dollars.
#[zero_downtime(
    id = "customers_balance_dollars",
    change_type(
        table = "customers",
        column = "balance",
        to = "numeric(12,2)",
        up = "balance / 100.0",
        down = "(balance * 100)::integer"
    )
)]
struct BalanceInDollars;

/// The new version reads and writes `full_name` from the end of expand (before any
/// backfill: the view shows `name`'s values under the new name until the contract's swap
/// shows the new column instead, in the same transaction); the old version writes `name`
/// until the contract and again after its reversal.
#[test]
fn rename_column_under_both_versions() {
    use Move::*;
    let (db, ledger) = mixed::seeded(
        "vs_rename_column",
        &format!(
            "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', city text);
             INSERT INTO customers (name, city) SELECT 'seed ' || n, 'c' FROM generate_series(1, {ROWS}) AS n;"
        ),
    );
    let mut client = db.connect();
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE customers SET name = $1 WHERE id = $2",
        "INSERT INTO customers (name) VALUES ($1) RETURNING id",
        "SELECT name FROM customers WHERE id = $1",
    );
    let new = Version::new(
        new_version_url(&db, &RenameName),
        "UPDATE customers SET full_name = $1 WHERE id = $2",
        "INSERT INTO customers (full_name) VALUES ($1) RETURNING id",
        "SELECT full_name FROM customers WHERE id = $1",
    );
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let (version, who) = if index == 0 { (&old, "old") } else { (&new, "new") };
        version.write::<String, String>(ledger, stop, index as u64 * 1_000_003, |call| {
            let value = format!("{who} {call}");
            (value.clone(), value)
        });
    };
    let moves = [
        Deploy(0),
        Run(Phase::Expand),
        Deploy(1),
        Run(Phase::Sync),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
        Revert(Phase::Contract),
        Deploy(0),
        Revert(Phase::Backfill),
        Run(Phase::Backfill),
        Stop(0),
        Run(Phase::Contract),
    ];
    run_moves(&db, &[&RenameName], &[&old, &new], &write, &ledger, &moves);
    assert_rows_as_meant(&mut client, "SELECT id, full_name FROM customers", ledger);
    let view: String = client
        .query_one(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'",
            &[&zdm_plan::names::version_schema(RenameName.id())],
        )
        .unwrap()
        .get(0);
    assert_eq!(view, "id bigint, full_name text, city text");
}

/// Two migrations of one table in flight: `customers_full_name`'s rename, then
/// `customers_balance_dollars`'s type change. The newest version schema presents the shape
/// after both (`full_name`, and `balance` in dollars, neither migration's transition column),
/// and the newest version writes through it, with statements prepared once, across both
/// migrations' contracts and their reversals; the old version writes the tables until the
/// first contract, and again after its reversal.
#[test]
fn two_migrations_of_one_table_in_flight() {
    use Move::*;
    let db = TestDb::new("vs_two_in_flight");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', \
                                     balance integer NOT NULL DEFAULT 0, city text);
             INSERT INTO customers (name, balance, city) \
             SELECT 'seed ' || n, n * 100, 'c' FROM generate_series(1, {ROWS}) AS n;"
        ))
        .unwrap();
    let ledger: Ledger = Mutex::new((1..=ROWS).map(|id| (id, format!("seed {id} {id}.00"))).collect());
    let old = Version::new(
        db.url().to_owned(),
        "UPDATE customers SET name = 'n' || $1::bigint, balance = $1::bigint * 100 WHERE id = $2",
        "INSERT INTO customers (name, balance) VALUES ('n' || $1::bigint, $1::bigint * 100) RETURNING id",
        "SELECT name, balance FROM customers WHERE id = $1",
    );
    let newest_path = zdm_runtime::version_search_path(&[&RenameName, &BalanceInDollars]);
    let newest = Version::new(
        format!(
            "{}?options=-c%20search_path%3D{}%2Cpublic",
            db.url(),
            newest_path.replace(", ", "%2C")
        ),
        "UPDATE customers SET full_name = 'n' || $1::bigint, balance = $1::bigint + 0.25 WHERE id = $2",
        "INSERT INTO customers (full_name, balance) VALUES ('n' || $1::bigint, $1::bigint + 0.25) RETURNING id",
        "SELECT full_name, balance FROM customers WHERE id = $1",
    );
    let write = |index: usize, ledger: &Ledger, stop: &AtomicBool| {
        let (version, cents) = if index == 0 { (&old, "00") } else { (&newest, "25") };
        version.write::<i64, String>(ledger, stop, index as u64 * 1_000_003, |call| {
            let value = (call % 100_000) as i64;
            (value, format!("n{value} {value}.{cents}"))
        });
    };
    let moves = [
        Deploy(0),
        RunOf(0, Phase::Expand),
        RunOf(0, Phase::Sync),
        RunOf(0, Phase::Backfill),
        RunOf(1, Phase::Expand),
        RunOf(1, Phase::Sync),
        Deploy(1),
        RunOf(1, Phase::Backfill),
        Stop(0),
        RunOf(0, Phase::Contract),
        RevertOf(0, Phase::Contract),
        Deploy(0),
        Stop(0),
        RunOf(0, Phase::Contract),
        RunOf(1, Phase::Contract),
        RevertOf(1, Phase::Contract),
        RunOf(1, Phase::Contract),
    ];
    run_moves(
        &db,
        &[&RenameName, &BalanceInDollars],
        &[&old, &newest],
        &write,
        &ledger,
        &moves,
    );
    assert_rows_as_meant(
        &mut client,
        "SELECT id, full_name || ' ' || balance FROM customers",
        ledger,
    );
    let view: String = client
        .query_one(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'",
            &[&zdm_plan::names::version_schema(BalanceInDollars.id())],
        )
        .unwrap()
        .get(0);
    assert_eq!(view, "id bigint, full_name text, balance numeric, city text");
}
