//! What SQL fragments read and call, checked before any change: a `backfill` reading a
//! generated column, or calling a volatile function of the user's own, is refused at
//! expand with the table untouched; built-ins and non-volatile functions of the user's pass.
//! A `default` calling a function of the user's is judged by the catalog at expand: a
//! volatile one is set after the column and backfilled, any other stored in the catalog.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase};
use zdm_suite::{scalar, table_catalog, TestDb};

#[zero_downtime(
    id = "add_total_units",
    add_column(
        table = "orders",
        column = "total_units",
        ty = "bigint",
        backfill = "total_cents / 100"
    )
)]
struct AddTotalUnits;

#[zero_downtime(
    id = "widen_quantity",
    change_type(
        table = "orders",
        column = "quantity",
        to = "numeric",
        up = "quantity + total_cents * 0",
        down = "quantity::bigint"
    )
)]
struct WidenQuantity;

#[zero_downtime(
    id = "name_required",
    add_not_null(table = "orders", column = "name", backfill = "next_code('n')")
)]
struct NameRequired;

#[zero_downtime(
    id = "add_code",
    add_column(table = "orders", column = "code", ty = "text", backfill = "next_code(name)")
)]
struct AddCode;

#[zero_downtime(
    id = "add_qualified_code",
    add_column(
        table = "orders",
        column = "code",
        ty = "text",
        backfill = "public.next_code(name)"
    )
)]
struct AddQualifiedCode;

#[zero_downtime(
    id = "add_default_code",
    add_column(table = "orders", column = "code", ty = "text", default = "next_code('x')")
)]
struct AddDefaultCode;

#[zero_downtime(
    id = "add_lower_name",
    add_column(
        table = "orders",
        column = "name_lower",
        ty = "text",
        backfill = "lower(name)"
    )
)]
struct AddLowerName;

#[zero_downtime(
    id = "add_shouted_name",
    add_column(
        table = "orders",
        column = "name_shouted",
        ty = "text",
        backfill = "shout(name)"
    )
)]
struct AddShoutedName;

fn orders(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, name text, price_cents bigint, quantity bigint, \
                 total_cents bigint GENERATED ALWAYS AS (price_cents * quantity) STORED);
             INSERT INTO orders (id, name, price_cents, quantity) SELECT g, 'order ' || g, 250, g \
                 FROM generate_series(1, 20) g;
             CREATE SEQUENCE codes;
             CREATE FUNCTION next_code(prefix text) RETURNS text VOLATILE LANGUAGE plpgsql \
                 AS $$ BEGIN RETURN prefix || nextval('codes'); END $$;
             CREATE FUNCTION shout(value text) RETURNS text IMMUTABLE LANGUAGE plpgsql \
                 AS $$ BEGIN RETURN upper(value); END $$;",
        )
        .unwrap();
    client
}

/// Expand of `migration` is refused with `reason`, and the table is as it was.
fn refused(db: &TestDb, client: &mut Client, migration: &dyn zdm_runtime::Migration, reason: &str) {
    let before = table_catalog(client, "orders");
    let error = db.runner().run(migration, Phase::Expand).unwrap_err();
    assert!(
        matches!(&error, Error::Refused { before, .. } if before == "any change"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!("{}: refused before any change: {reason}", migration.id())
    );
    assert_eq!(table_catalog(client, "orders"), before);
}

#[test]
fn a_backfill_reading_a_generated_column_is_refused_before_any_change() {
    let db = TestDb::new("fragments_generated_column");
    let mut client = orders(&db);
    refused(
        &db,
        &mut client,
        &AddTotalUnits,
        "`backfill` reads \"orders\".\"total_cents\", a generated column: the sync trigger computes `backfill` \
         for each row written, before PostgreSQL computes that row's generated columns, so it cannot see the \
         row's value of \"total_cents\"; write `backfill` over the columns \"total_cents\" is generated from",
    );
    refused(
        &db,
        &mut client,
        &WidenQuantity,
        "`up` reads \"orders\".\"total_cents\", a generated column: the sync trigger computes `up` for each row \
         written, before PostgreSQL computes that row's generated columns, so it cannot see the row's value of \
         \"total_cents\"; write `up` over the columns \"total_cents\" is generated from",
    );
}

#[test]
fn a_volatile_function_of_your_own_is_refused_before_any_change() {
    let db = TestDb::new("fragments_volatile_function");
    let mut client = orders(&db);
    let reason = "`backfill` calls next_code(text), a volatile function of your own: zdm cannot tell what it \
                  does, and the sync trigger runs it again on every write of a row, so each write and the \
                  backfill may give the row a different value; declare the function STABLE or IMMUTABLE if it \
                  is, or compute the value without it";
    refused(&db, &mut client, &AddCode, reason);
    refused(&db, &mut client, &AddQualifiedCode, reason);
    refused(&db, &mut client, &NameRequired, reason);
}

#[zero_downtime(
    id = "add_shouted_default",
    add_column(
        table = "orders",
        column = "label",
        ty = "text",
        default = "shout('x')",
        not_null
    )
)]
struct AddShoutedDefault;

/// The table's file and whether `column` of `orders` reads a value stored in the catalog
/// for the rows that existed when it was added.
fn storage(client: &mut Client, column: &str) -> (u32, bool) {
    let row = client
        .query_one(
            "SELECT c.relfilenode, a.atthasmissing FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid = 'orders'::regclass AND a.attname = $1",
            &[&column],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn a_default_calling_a_volatile_function_of_your_own_is_set_after_the_column_and_backfilled() {
    let db = TestDb::new("fragments_volatile_default");
    let mut client = orders(&db);
    let file: u32 = scalar(
        &mut client,
        "SELECT relfilenode FROM pg_class WHERE oid = 'orders'::regclass",
    );
    let mut runner = db.runner();
    runner.run(&AddDefaultCode, Phase::Expand).unwrap();
    assert_eq!(
        storage(&mut client, "code"),
        (file, false),
        "no rewrite, no value stored for old rows"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM orders WHERE code IS NULL"),
        20
    );
    runner.run_to(&AddDefaultCode, Phase::Backfill).unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(DISTINCT code) FROM orders WHERE code LIKE 'x%'"
        ),
        20,
        "the default ran once per row, in batches"
    );
    // Its reversal takes back exactly what it filled.
    runner.revert(&AddDefaultCode, Phase::Backfill).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM orders WHERE code IS NULL"),
        20
    );
}

#[test]
fn a_default_calling_a_function_of_your_own_that_is_not_volatile_stays_in_the_catalog() {
    let db = TestDb::new("fragments_stable_default");
    let mut client = orders(&db);
    let file: u32 = scalar(
        &mut client,
        "SELECT relfilenode FROM pg_class WHERE oid = 'orders'::regclass",
    );
    let mut runner = db.runner();
    runner.run(&AddShoutedDefault, Phase::Expand).unwrap();
    assert_eq!(
        storage(&mut client, "label"),
        (file, true),
        "the default is stored in the catalog"
    );
    let reports = runner.run_to(&AddShoutedDefault, Phase::Backfill).unwrap();
    let written: u64 = reports.last().unwrap().steps.iter().map(|step| step.rows).sum();
    assert_eq!(written, 0, "the backfill found no NULL to fill");
    runner.revert(&AddShoutedDefault, Phase::Backfill).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM orders WHERE label = 'X'"),
        20,
        "the reversal of a backfill that filled nothing leaves the stored default"
    );
    runner.run_to(&AddShoutedDefault, Phase::Contract).unwrap();
    assert_eq!(storage(&mut client, "label"), (file, true));
}

#[test]
fn built_ins_and_functions_that_are_not_volatile_pass() {
    let db = TestDb::new("fragments_pass");
    let _client = orders(&db);
    let mut runner = db.runner();
    runner.run(&AddLowerName, Phase::Expand).unwrap();
    runner.run(&AddShoutedName, Phase::Expand).unwrap();
}
