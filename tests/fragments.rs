//! What SQL fragments read and call, checked before any change: a `backfill` reading a
//! generated column, or calling a volatile function of the user's own, is refused at
//! expand with the table untouched; built-ins and non-volatile functions of the user's pass.

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase};
use zdm_suite::{table_catalog, TestDb};

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
    refused(
        &db,
        &mut client,
        &AddDefaultCode,
        "`default` calls next_code(text), a volatile function of your own: zdm cannot tell what it does, takes \
         the default for a constant and puts it in `ADD COLUMN … DEFAULT`, where PostgreSQL evaluates a \
         volatile default for every existing row, rewriting the whole table under ACCESS EXCLUSIVE; declare \
         the function STABLE or IMMUTABLE if it is, or add the column with `backfill = \"…\"` to fill it in \
         batches",
    );
}

#[test]
fn built_ins_and_functions_that_are_not_volatile_pass() {
    let db = TestDb::new("fragments_pass");
    let _client = orders(&db);
    let mut runner = db.runner();
    runner.run(&AddLowerName, Phase::Expand).unwrap();
    runner.run(&AddShoutedName, Phase::Expand).unwrap();
}
