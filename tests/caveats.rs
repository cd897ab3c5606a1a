//! What zdm cannot prevent and the README says instead, each shown on the real server: a
//! backfill fires the table's triggers (unless told to skip them), `now()` differs per batch, a subquery is evaluated
//! once per row, prepared statements over a changed table fail until re-prepared, and
//! TRUNCATE during `split_table`'s sync is not carried.

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{zero_downtime, BackfillRoute, Options, Phase};
use zdm_suite::{scalar, test_options, TestDb};

#[zero_downtime(
    id = "caveats_stamp",
    add_column(
        table = "orders",
        column = "stamped_at",
        ty = "timestamptz",
        backfill = "now()"
    )
)]
struct StampOrders;

#[zero_downtime(
    id = "caveats_owner_name",
    add_column(
        table = "orders",
        column = "owner_name",
        ty = "text",
        backfill = "(SELECT o.name FROM owners AS o WHERE o.id = owner_id)"
    )
)]
struct AddOwnerName;

#[zero_downtime(
    id = "caveats_split",
    split_table(
        table = "orders",
        into(table = "order_notes", columns = ["note"]),
        into(table = "order_owners", columns = ["owner_id", "updated_at"])
    )
)]
struct SplitOrders;

/// `orders`: 600 rows over 20 owners, with a `set_updated_at` trigger as teams have.
fn orders(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE owners (id bigint PRIMARY KEY, name text);
             INSERT INTO owners SELECT g, 'owner ' || g FROM generate_series(1, 20) g;
             CREATE TABLE orders (id bigint PRIMARY KEY, owner_id bigint, note text, \
                 updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
             INSERT INTO orders (id, owner_id, note) SELECT g, g % 20 + 1, 'note ' || g FROM generate_series(1, 600) g;
             CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
             CREATE TRIGGER set_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();",
        )
        .unwrap();
    client
}

#[test]
fn a_backfill_fires_the_tables_triggers_and_reads_now_per_batch() {
    let db = TestDb::new("caveats_triggers_now");
    let mut client = orders(&db);
    // Batches of 250 keys, one at a time.
    db.runner_with(Options {
        route: BackfillRoute::PrimaryKey,
        ..test_options()
    })
    .run_to(&StampOrders, Phase::Contract)
    .unwrap();
    let untouched: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE updated_at = '2000-01-01'",
    );
    assert_eq!(
        untouched, 0,
        "set_updated_at fired for every row the backfill wrote"
    );
    // 600 rows in batches of 250: three transactions, three values of now().
    let stamps: i64 = scalar(&mut client, "SELECT count(DISTINCT stamped_at) FROM orders");
    assert_eq!(stamps, 3);
}

#[test]
fn with_skip_user_triggers_the_backfill_fires_none_of_the_tables_triggers() {
    let db = TestDb::new("caveats_skip_triggers");
    let mut client = orders(&db);
    let options = Options {
        skip_user_triggers: true,
        ..test_options()
    };
    db.runner_with(options)
        .run_to(&StampOrders, Phase::Contract)
        .unwrap();
    let untouched: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE updated_at = '2000-01-01' AND stamped_at IS NOT NULL",
    );
    assert_eq!(untouched, 600);
}

#[test]
fn a_subquery_is_evaluated_once_per_row_and_not_again_when_the_other_table_changes() {
    let db = TestDb::new("caveats_subquery");
    let mut client = orders(&db);
    db.runner().run_to(&AddOwnerName, Phase::Contract).unwrap();
    client
        .batch_execute("UPDATE owners SET name = 'renamed' WHERE id = 1")
        .unwrap();
    let stale: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE owner_id = 1 AND owner_name = 'owner 1'",
    );
    assert_eq!(stale, 30);
}

#[test]
fn a_statement_prepared_before_expand_fails_until_prepared_again() {
    let db = TestDb::new("caveats_prepared");
    let mut client = orders(&db);
    let statement = client.prepare("SELECT * FROM orders WHERE id = $1").unwrap();
    client.query(&statement, &[&1i64]).unwrap();
    db.runner().run(&StampOrders, Phase::Expand).unwrap();
    let error = client.query(&statement, &[&1i64]).unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED), "{error}");
    let statement = client.prepare("SELECT * FROM orders WHERE id = $1").unwrap();
    assert_eq!(client.query(&statement, &[&1i64]).unwrap().len(), 1);
}

#[test]
fn truncate_during_split_sync_is_not_carried_and_contract_keeps_the_new_tables_rows() {
    let db = TestDb::new("caveats_truncate");
    let mut client = orders(&db);
    let mut runner = db.runner();
    runner.run_to(&SplitOrders, Phase::Backfill).unwrap();
    client.batch_execute("TRUNCATE orders CASCADE").unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM order_notes"),
        600
    );
    runner.run(&SplitOrders, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM order_notes"),
        600
    );
}
