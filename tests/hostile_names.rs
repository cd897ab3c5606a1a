//! Injection safety: every operation runs end to end, and reverts, over tables, columns,
//! indexes and constraints whose names hold double quotes, single quotes, spaces,
//! semicolons, upper case, non-ASCII letters and reserved words. Each name is written as
//! a SQL injection would be (`Order "Items"; DROP TABLE x`): if any statement zdm composes
//! left an identifier unquoted, or quoted it without doubling its quotes, the statement
//! would fail, act on another object, or drop the sentinel table `x`.
//!
//! The tests at the end cover names holding text zdm gives a meaning inside the SQL it
//! composes (the `$zdm$` dollar quote, the `{range}`, `{key}` and `{old_type}`
//! placeholders), which once broke it; each runs every phase and every reversal.

use postgres::Client;
use zdm_runtime::{quote_ident, zero_downtime, Migration, Phase};
use zdm_suite::{checksum, column, columns, constraints, indexes, scalar, triggers, Column, TestDb};

/// The table most tests work on. The quotes would end a badly quoted identifier and the
/// rest would run as a second statement.
const ORDERS: &str = "Order \"Items\"; DROP TABLE x";

/// Rows each test starts with: two backfill batches of 250 and a partial one.
const ROWS: i64 = 600;

/// A fresh database holding the sentinel table `x`, which every name below tries to drop.
fn database(test: &str) -> (TestDb, Client) {
    let db = TestDb::new(test);
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE x (id int PRIMARY KEY); INSERT INTO x VALUES (1);")
        .unwrap();
    (db, client)
}

fn assert_sentinel_intact(client: &mut Client, when: &str) {
    let rows: Option<i64> = scalar(
        client,
        "SELECT CASE WHEN to_regclass('public.x') IS NULL THEN NULL ELSE (SELECT count(*) FROM public.x) END",
    );
    assert_eq!(rows, Some(1), "the sentinel table x {when}");
}

fn exists(client: &mut Client, relation: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote_ident(relation)])
        .unwrap()
        .get(0)
}

/// What reverting every phase must give back: contents, columns, indexes and constraints.
#[derive(Debug, PartialEq)]
struct Table {
    checksum: String,
    columns: Vec<Column>,
    indexes: Vec<(String, bool, String)>,
    constraints: Vec<(String, String, bool, String)>,
}

fn table(client: &mut Client, name: &str) -> Table {
    Table {
        checksum: checksum(client, name),
        columns: columns(client, name),
        indexes: indexes(client, name),
        constraints: constraints(client, name),
    }
}

/// Runs every phase in order, checking the sentinel after each.
fn run_every_phase(db: &TestDb, client: &mut Client, migration: &dyn Migration) {
    let mut runner = db.runner();
    for phase in Phase::ALL {
        if let Err(error) = runner.run(migration, phase) {
            panic!("{phase}: {error}");
        }
        assert_sentinel_intact(client, &format!("after {phase}"));
    }
    assert_eq!(runner.state(migration).unwrap().completed, Some(Phase::Contract));
}

/// Reverts every phase, contract first, checking the sentinel after each.
fn revert_every_phase(db: &TestDb, client: &mut Client, migration: &dyn Migration) {
    let mut runner = db.runner();
    for phase in Phase::ALL.into_iter().rev() {
        if let Err(error) = runner.revert(migration, phase) {
            panic!("reverting {phase}: {error}");
        }
        assert_sentinel_intact(client, &format!("after reverting {phase}"));
    }
    assert_eq!(runner.state(migration).unwrap().completed, None);
}

fn index<'a>(indexes: &'a [(String, bool, String)], name: &str) -> Option<&'a (String, bool, String)> {
    indexes.iter().find(|(index, ..)| index == name)
}

fn constraint<'a>(
    constraints: &'a [(String, String, bool, String)],
    name: &str,
) -> Option<&'a (String, String, bool, String)> {
    constraints.iter().find(|(constraint, ..)| constraint == name)
}

// ---------------------------------------------------------------------------------------
// add_column

/// A column named `it's`, computed from a column named `select`, required and indexed.
#[zero_downtime(
    id = "hostile_add_column",
    add_column(
        table = "Order \"Items\"; DROP TABLE x",
        column = "it's",
        ty = "text",
        backfill = "upper(\"select\") || ' it''s; \"ok\"'",
        not_null,
        index
    )
)]
struct AddColumn;

#[test]
fn add_column_over_hostile_names() {
    let (db, mut client) = database("hostile_add_column");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "Größe" int);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, g % 40 FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &AddColumn);
    assert_eq!(
        column(&mut client, ORDERS, "it's"),
        Some(Column {
            name: "it's".to_owned(),
            ty: "text".to_owned(),
            not_null: true,
            default: None,
        })
    );
    let wrong: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "it's" IS DISTINCT FROM upper("select") || ' it''s; "ok"'"#,
    );
    assert_eq!(wrong, 0, "rows whose new column is not the backfill expression");
    let indexes_after = indexes(&mut client, ORDERS);
    let (_, valid, definition) = index(&indexes_after, "Order \"Items\"; DROP TABLE x_it's_idx")
        .unwrap_or_else(|| panic!("no index on it's: {indexes_after:?}"));
    assert!(valid, "{definition}");
    assert!(definition.contains(r#"("it's")"#), "{definition}");
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
    // NOT NULL holds on the column of that name: a row leaving it out is refused.
    let refused = client
        .batch_execute(r#"INSERT INTO "Order ""Items""; DROP TABLE x" ("ID", "select") VALUES (0, 'zero')"#)
        .unwrap_err();
    let refused = refused.as_db_error().expect("a server error");
    assert_eq!(
        (refused.code(), refused.column()),
        (&postgres::error::SqlState::NOT_NULL_VIOLATION, Some("it's")),
        "{refused}"
    );

    revert_every_phase(&db, &mut client, &AddColumn);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// rename_column

/// `select` becomes `it's "quoted"`, carrying its default, NOT NULL, a CHECK, a UNIQUE
/// constraint, an index and a comment, all named and written with hostile text.
#[zero_downtime(
    id = "hostile_rename_column",
    rename_column(
        table = "Order \"Items\"; DROP TABLE x",
        from = "select",
        to = "it's \"quoted\""
    )
)]
struct RenameColumn;

#[test]
fn rename_column_over_hostile_names() {
    let (db, mut client) = database("hostile_rename_column");
    // The renamed column comes last: a reverted contract re-adds it as the last column.
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" (
                   "ID" bigint PRIMARY KEY,
                   "Größe" int NOT NULL,
                   "select" text NOT NULL DEFAULT 'it''s; "new"'
                       CONSTRAINT "Check ""select""; DROP TABLE x" CHECK ("select" <> 'DROP TABLE x; '''),
                   CONSTRAINT "Unique ""Größe"", it's" UNIQUE ("Größe", "select")
               );
               CREATE INDEX "Idx ""select""; DROP TABLE x" ON "Order ""Items""; DROP TABLE x" (lower("select")) WHERE "select" <> 'it''s';
               COMMENT ON COLUMN "Order ""Items""; DROP TABLE x"."select" IS 'it''s "the" name; DROP TABLE x';
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, g, 'item ' || g || ' it''s' FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &RenameColumn);
    let renamed = column(&mut client, ORDERS, "it's \"quoted\"").expect("the renamed column");
    assert_eq!(
        renamed,
        Column {
            name: "it's \"quoted\"".to_owned(),
            ty: "text".to_owned(),
            not_null: true,
            default: Some(r#"'it''s; "new"'::text"#.to_owned()),
        }
    );
    assert!(column(&mut client, ORDERS, "select").is_none());
    let moved: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "it's ""quoted""" = 'item ' || "Größe" || ' it''s'"#,
    );
    assert_eq!(moved, ROWS);
    let comment: String = scalar(
        &mut client,
        r#"SELECT col_description('"Order ""Items""; DROP TABLE x"'::regclass, attnum) FROM pg_attribute
           WHERE attrelid = '"Order ""Items""; DROP TABLE x"'::regclass AND attname = 'it''s "quoted"'"#,
    );
    assert_eq!(comment, "it's \"the\" name; DROP TABLE x");
    let indexes_after = indexes(&mut client, ORDERS);
    let (_, valid, definition) = index(&indexes_after, "Idx \"select\"; DROP TABLE x")
        .unwrap_or_else(|| panic!("the index under its name: {indexes_after:?}"));
    assert!(valid);
    assert!(
        definition.contains(r#"(lower("it's ""quoted"""))"#)
            && definition.contains(r#"WHERE ("it's ""quoted""" <> 'it''s'::text)"#),
        "{definition}"
    );
    let constraints_after = constraints(&mut client, ORDERS);
    let (_, _, validated, definition) = constraint(&constraints_after, "Check \"select\"; DROP TABLE x")
        .unwrap_or_else(|| panic!("the check under its name: {constraints_after:?}"));
    assert!(validated);
    assert_eq!(
        definition,
        r#"CHECK (("it's ""quoted""" <> 'DROP TABLE x; '''::text))"#
    );
    let (_, _, validated, definition) = constraint(&constraints_after, "Unique \"Größe\", it's")
        .unwrap_or_else(|| panic!("the unique constraint under its name: {constraints_after:?}"));
    assert!(validated);
    assert_eq!(definition, r#"UNIQUE ("Größe", "it's ""quoted""")"#);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());

    revert_every_phase(&db, &mut client, &RenameColumn);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// change_type

/// `Größe` goes from integer to bigint through a copy, with conversions that name it.
#[zero_downtime(
    id = "hostile_change_type",
    change_type(
        table = "Order \"Items\"; DROP TABLE x",
        column = "Größe",
        to = "bigint",
        up = "\"Größe\"::bigint * 10",
        down = "(\"Größe\" / 10)::integer"
    )
)]
struct ChangeType;

#[test]
fn change_type_over_hostile_names() {
    let (db, mut client) = database("hostile_change_type");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" (
                   "ID" bigint PRIMARY KEY,
                   "select" text,
                   "Größe" int NOT NULL DEFAULT 7 CONSTRAINT "Größe ""positive""; it's" CHECK ("Größe" >= 0)
               );
               CREATE INDEX "Idx ""Größe""; DROP TABLE x" ON "Order ""Items""; DROP TABLE x" ("Größe") INCLUDE ("select");
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &ChangeType);
    let changed = column(&mut client, ORDERS, "Größe").expect("the changed column");
    assert_eq!(changed.ty, "bigint");
    assert!(changed.not_null);
    // The constant default is converted once with `up`.
    assert_eq!(changed.default.as_deref(), Some("'70'::bigint"));
    assert!(column(&mut client, ORDERS, "Größe_zdm_new").is_none());
    let converted: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "Größe" = "ID" * 10"#,
    );
    assert_eq!(converted, ROWS);
    let indexes_after = indexes(&mut client, ORDERS);
    let (_, valid, definition) = index(&indexes_after, "Idx \"Größe\"; DROP TABLE x")
        .unwrap_or_else(|| panic!("the index under its name: {indexes_after:?}"));
    assert!(valid);
    assert!(
        definition.contains(r#"("Größe") INCLUDE ("select")"#),
        "{definition}"
    );
    let constraints_after = constraints(&mut client, ORDERS);
    let (_, _, validated, definition) = constraint(&constraints_after, "Größe \"positive\"; it's")
        .unwrap_or_else(|| panic!("the check under its name: {constraints_after:?}"));
    assert!(validated);
    assert_eq!(definition, r#"CHECK (("Größe" >= 0))"#);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());

    revert_every_phase(&db, &mut client, &ChangeType);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// add_foreign_key

const CUSTOMERS: &str = "Kunden \"Stamm\"; DROP TABLE x";

/// Orders get a required reference, filled by email, to customers keyed by `Kunden-Nr`.
#[zero_downtime(
    id = "hostile_add_foreign_key",
    add_foreign_key(
        table = "Order \"Items\"; DROP TABLE x",
        column = "Kunde \"Ref\"; it's",
        ty = "bigint",
        references = "Kunden \"Stamm\"; DROP TABLE x",
        referenced_column = "Kunden-Nr",
        backfill = "(SELECT k.\"Kunden-Nr\" FROM \"Kunden \"\"Stamm\"\"; DROP TABLE x\" AS k WHERE k.\"it's\" = \"E-Mail; select\")",
        on_delete = "cascade",
        not_null
    )
)]
struct AddForeignKey;

#[test]
fn add_foreign_key_over_hostile_names() {
    let (db, mut client) = database("hostile_add_foreign_key");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Kunden ""Stamm""; DROP TABLE x" ("Kunden-Nr" bigint PRIMARY KEY, "it's" text NOT NULL UNIQUE);
               INSERT INTO "Kunden ""Stamm""; DROP TABLE x" SELECT g, 'kunde' || g || '@x' FROM generate_series(1, 50) g;
               CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "E-Mail; select" text NOT NULL);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'kunde' || (g % 50 + 1) || '@x' FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);
    let customers_before = table(&mut client, CUSTOMERS);

    run_every_phase(&db, &mut client, &AddForeignKey);
    let added = column(&mut client, ORDERS, "Kunde \"Ref\"; it's").expect("the new column");
    assert_eq!((added.ty.as_str(), added.not_null), ("bigint", true));
    let matched: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" o JOIN "Kunden ""Stamm""; DROP TABLE x" k
           ON k."Kunden-Nr" = o."Kunde ""Ref""; it's" AND k."it's" = o."E-Mail; select""#,
    );
    assert_eq!(matched, ROWS);
    let constraints_after = constraints(&mut client, ORDERS);
    let (_, kind, validated, definition) = constraint(
        &constraints_after,
        "Order \"Items\"; DROP TABLE x_Kunde \"Ref\"; it's_fkey",
    )
    .unwrap_or_else(|| panic!("the foreign key: {constraints_after:?}"));
    assert_eq!(kind, "f");
    assert!(validated);
    assert_eq!(
        definition,
        r#"FOREIGN KEY ("Kunde ""Ref""; it's") REFERENCES "Kunden ""Stamm""; DROP TABLE x"("Kunden-Nr") ON DELETE CASCADE"#
    );
    let indexes_after = indexes(&mut client, ORDERS);
    let (_, valid, definition) = index(
        &indexes_after,
        "Order \"Items\"; DROP TABLE x_Kunde \"Ref\"; it's_idx",
    )
    .unwrap_or_else(|| panic!("the index: {indexes_after:?}"));
    assert!(valid);
    assert!(definition.contains(r#"("Kunde ""Ref""; it's")"#), "{definition}");
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
    // The constraint is the one declared: deleting a customer deletes its orders.
    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute(r#"DELETE FROM "Kunden ""Stamm""; DROP TABLE x" WHERE "Kunden-Nr" = 1"#)
        .unwrap();
    let left: i64 = transaction
        .query_one(
            r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "Kunde ""Ref""; it's" = 1"#,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "orders of a deleted customer");
    transaction.rollback().unwrap();

    revert_every_phase(&db, &mut client, &AddForeignKey);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(table(&mut client, CUSTOMERS), customers_before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// add_index

/// A unique, partial, covering index over `select` and `Größe`, named like an injection.
#[zero_downtime(
    id = "hostile_add_index",
    add_index(
        table = "Order \"Items\"; DROP TABLE x",
        columns = ["select", "Größe"],
        unique,
        include = ["it's"],
        where = "\"it's\" <> 'it''s; DROP TABLE x'",
        name = "Idx \"Größe\"; DROP TABLE x"
    )
)]
struct AddIndex;

#[test]
fn add_index_over_hostile_names() {
    let (db, mut client) = database("hostile_add_index");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "Größe" int, "it's" text);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || (g % 300), g / 300, 'it''s ' || g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &AddIndex);
    let indexes_after = indexes(&mut client, ORDERS);
    let (_, valid, definition) = index(&indexes_after, "Idx \"Größe\"; DROP TABLE x")
        .unwrap_or_else(|| panic!("the index: {indexes_after:?}"));
    assert!(valid);
    assert_eq!(
        definition,
        r#"CREATE UNIQUE INDEX "Idx ""Größe""; DROP TABLE x" ON public."Order ""Items""; DROP TABLE x" USING btree ("select", "Größe") INCLUDE ("it's") WHERE ("it's" <> 'it''s; DROP TABLE x'::text)"#
    );
    // The index is the one declared: a duplicate key is refused.
    let duplicate = client
        .batch_execute(r#"INSERT INTO "Order ""Items""; DROP TABLE x" VALUES (0, 'item 1', 0, 'dup')"#)
        .expect_err("a duplicate of (select, Größe) was accepted");
    let duplicate = duplicate.as_db_error().expect("a server error");
    assert_eq!(
        (duplicate.code(), duplicate.constraint()),
        (
            &postgres::error::SqlState::UNIQUE_VIOLATION,
            Some("Idx \"Größe\"; DROP TABLE x")
        ),
        "{duplicate}"
    );
    assert_eq!(checksum(&mut client, ORDERS), before.checksum);

    revert_every_phase(&db, &mut client, &AddIndex);
    assert_eq!(table(&mut client, ORDERS), before);
}

// ---------------------------------------------------------------------------------------
// split_table

const PRICES: &str = "Items \"Prices\"; DROP TABLE x";
const NOTES: &str = "it's; notes";

/// The table keyed by `Order ID` is split in two tables with hostile names.
#[zero_downtime(
    id = "hostile_split_table",
    split_table(
        table = "Order \"Items\"; DROP TABLE x",
        key = "Order ID",
        into(table = "Items \"Prices\"; DROP TABLE x", columns = ["select", "Größe"]),
        into(table = "it's; notes", columns = ["it's", "Note \"2\""]),
    )
)]
struct SplitTable;

#[test]
fn split_table_over_hostile_names() {
    let (db, mut client) = database("hostile_split_table");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" (
                   "Order ID" bigint PRIMARY KEY,
                   "select" text NOT NULL DEFAULT 'it''s; "x"',
                   "Größe" int CONSTRAINT "Größe ""positive""; it's" CHECK ("Größe" > 0),
                   "it's" text,
                   "Note ""2""" text
               );
               CREATE INDEX "Idx ""Größe""; DROP TABLE x" ON "Order ""Items""; DROP TABLE x" ("Größe", "it's");
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'it''s ' || g END, '"' || g || '"'
               FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &SplitTable);
    assert!(
        !exists(&mut client, ORDERS),
        "the split table is dropped at contract"
    );
    let names = |columns: Vec<Column>| columns.into_iter().map(|column| column.name).collect::<Vec<_>>();
    assert_eq!(
        names(columns(&mut client, PRICES)),
        ["Order ID", "select", "Größe"]
    );
    assert_eq!(
        names(columns(&mut client, NOTES)),
        ["Order ID", "it's", "Note \"2\""]
    );
    assert_eq!(
        column(&mut client, PRICES, "select").unwrap().default.as_deref(),
        Some(r#"'it''s; "x"'::text"#)
    );
    let joined: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Items ""Prices""; DROP TABLE x" p JOIN "it's; notes" n USING ("Order ID")
           WHERE p."select" = 'item ' || "Order ID" AND p."Größe" = "Order ID"
             AND n."it's" IS NOT DISTINCT FROM CASE WHEN "Order ID" % 7 = 0 THEN NULL ELSE 'it''s ' || "Order ID" END
             AND n."Note ""2""" = '"' || "Order ID" || '"'"#,
    );
    assert_eq!(joined, ROWS);
    for new_table in [PRICES, NOTES] {
        assert_eq!(triggers(&mut client, new_table), Vec::<String>::new());
        let (_, kind, _, definition) = constraints(&mut client, new_table)
            .into_iter()
            .find(|(_, kind, ..)| kind == "p")
            .expect("a primary key");
        assert_eq!(
            (kind.as_str(), definition.as_str()),
            ("p", r#"PRIMARY KEY ("Order ID")"#)
        );
    }

    revert_every_phase(&db, &mut client, &SplitTable);
    assert_eq!(table(&mut client, ORDERS), before);
    assert!(!exists(&mut client, PRICES) && !exists(&mut client, NOTES));
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// add_not_null

/// `it's` becomes required; its NULLs are filled from the column named `select`.
#[zero_downtime(
    id = "hostile_add_not_null",
    add_not_null(
        table = "Order \"Items\"; DROP TABLE x",
        column = "it's",
        backfill = "'it''s \"' || \"select\" || '\"; DROP TABLE x'"
    )
)]
struct AddNotNull;

#[test]
fn add_not_null_over_hostile_names() {
    let (db, mut client) = database("hostile_add_not_null");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "it's" text);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'set ' || g END
               FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &AddNotNull);
    assert!(column(&mut client, ORDERS, "it's").unwrap().not_null);
    let filled: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x"
           WHERE "it's" = CASE WHEN "ID" % 3 = 0 THEN 'it''s "item ' || "ID" || '"; DROP TABLE x' ELSE 'set ' || "ID" END"#,
    );
    assert_eq!(filled, ROWS);
    let constraints_after = constraints(&mut client, ORDERS);
    assert!(
        constraint(&constraints_after, "zdm_Order \"Items\"; DROP TABLE x_it's_nn").is_none(),
        "the stand-in check is dropped: {constraints_after:?}"
    );
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());

    revert_every_phase(&db, &mut client, &AddNotNull);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// rename_table

const RENAMED: &str = "Bestellte \"Größen\"; DROP TABLE x";

/// The table is renamed; its old name stays a view until contract.
#[zero_downtime(
    id = "hostile_rename_table",
    rename_table(
        from = "Order \"Items\"; DROP TABLE x",
        to = "Bestellte \"Größen\"; DROP TABLE x"
    )
)]
struct RenameTable;

#[test]
fn rename_table_over_hostile_names() {
    let (db, mut client) = database("hostile_rename_table");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "it's" int DEFAULT 3);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    let mut runner = db.runner();
    runner.run(&RenameTable, Phase::Expand).unwrap();
    assert_sentinel_intact(&mut client, "after expand");
    let kind: String = scalar(
        &mut client,
        r#"SELECT relkind::text FROM pg_class WHERE oid = '"Order ""Items""; DROP TABLE x"'::regclass"#,
    );
    assert_eq!(kind, "v", "the old name is a view after expand");
    // The old version writes through the view; the new one reads the row under the new name.
    client
        .batch_execute(
            r#"INSERT INTO "Order ""Items""; DROP TABLE x" ("ID", "select") VALUES (0, 'via view')"#,
        )
        .unwrap();
    let through: i32 = scalar(
        &mut client,
        r#"SELECT "it's" FROM "Bestellte ""Größen""; DROP TABLE x" WHERE "ID" = 0 AND "select" = 'via view'"#,
    );
    assert_eq!(through, 3);
    client
        .batch_execute(r#"DELETE FROM "Order ""Items""; DROP TABLE x" WHERE "ID" = 0"#)
        .unwrap();
    for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
        runner.run(&RenameTable, phase).unwrap();
        assert_sentinel_intact(&mut client, &format!("after {phase}"));
    }
    drop(runner);
    assert!(!exists(&mut client, ORDERS), "the view is dropped at contract");
    assert_eq!(checksum(&mut client, RENAMED), before.checksum);
    assert_eq!(columns(&mut client, RENAMED), before.columns);

    revert_every_phase(&db, &mut client, &RenameTable);
    assert!(!exists(&mut client, RENAMED));
    let kind: String = scalar(
        &mut client,
        r#"SELECT relkind::text FROM pg_class WHERE oid = '"Order ""Items""; DROP TABLE x"'::regclass"#,
    );
    assert_eq!(kind, "r");
    assert_eq!(table(&mut client, ORDERS), before);
}

// Names (and one fragment) holding text zdm itself gives a meaning in the SQL it composes:
// the dollar quote of generated bodies and the placeholders the runtime fills in.

/// Creates `table` keyed by `"ID"` with `ROWS` rows and `columns` (SQL column definitions),
/// and returns its state.
fn keyed_table(client: &mut Client, name: &str, columns: &str, values: &str) -> Table {
    let table_q = quote_ident(name);
    client
        .batch_execute(&format!(
            "CREATE TABLE {table_q} (\"ID\" bigint PRIMARY KEY, {columns});
             INSERT INTO {table_q} SELECT g, {values} FROM generate_series(1, {ROWS}) g;"
        ))
        .unwrap();
    table(client, name)
}

/// A column whose name holds `$zdm$`, computed by a sync trigger.
#[zero_downtime(
    id = "bug_dollar_quote_add_column",
    add_column(
        table = "Order \"Items\"; DROP TABLE x",
        column = "Preis $zdm$; DROP TABLE x",
        ty = "bigint",
        backfill = "\"ID\" * 2",
        not_null
    )
)]
struct DollarQuoteAddColumn;

#[test]
fn dollar_quote_in_a_column_name_add_column() {
    let (db, mut client) = database("hostile_bug_dollar_add_column");
    let before = keyed_table(&mut client, ORDERS, "\"select\" text", "'item ' || g");

    run_every_phase(&db, &mut client, &DollarQuoteAddColumn);
    let doubled: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "Preis $zdm$; DROP TABLE x" = "ID" * 2"#,
    );
    assert_eq!(doubled, ROWS);

    revert_every_phase(&db, &mut client, &DollarQuoteAddColumn);
    assert_eq!(table(&mut client, ORDERS), before);
}

/// A split whose moved column's name holds `$zdm$`.
#[zero_downtime(
    id = "bug_dollar_quote_split_table",
    split_table(
        table = "Order \"Items\"; DROP TABLE x",
        key = "ID",
        into(table = "Preise", columns = ["Preis $zdm$ netto"]),
        into(table = "Namen", columns = ["select"])
    )
)]
struct DollarQuoteSplitTable;

#[test]
fn dollar_quote_in_a_column_name_split_table() {
    let (db, mut client) = database("hostile_bug_dollar_split_table");
    let before = keyed_table(
        &mut client,
        ORDERS,
        "\"Preis $zdm$ netto\" int, \"select\" text",
        "g, 'item ' || g",
    );

    run_every_phase(&db, &mut client, &DollarQuoteSplitTable);
    let moved: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Preise" JOIN "Namen" USING ("ID") WHERE "Preis $zdm$ netto" = "ID""#,
    );
    assert_eq!(moved, ROWS);

    revert_every_phase(&db, &mut client, &DollarQuoteSplitTable);
    assert_eq!(table(&mut client, ORDERS), before);
}

/// A type change of a column whose name holds `$zdm$`.
#[zero_downtime(
    id = "bug_dollar_quote_change_type",
    change_type(
        table = "Order \"Items\"; DROP TABLE x",
        column = "Preis $zdm$ netto",
        to = "bigint"
    )
)]
struct DollarQuoteChangeType;

#[test]
fn dollar_quote_in_a_column_name_change_type() {
    let (db, mut client) = database("hostile_bug_dollar_change_type");
    let before = keyed_table(&mut client, ORDERS, "\"Preis $zdm$ netto\" int", "g");

    run_every_phase(&db, &mut client, &DollarQuoteChangeType);
    assert_eq!(
        column(&mut client, ORDERS, "Preis $zdm$ netto").unwrap().ty,
        "bigint"
    );

    revert_every_phase(&db, &mut client, &DollarQuoteChangeType);
    assert_eq!(table(&mut client, ORDERS), before);
}

/// A rename of a table whose name holds `$zdm$`.
#[zero_downtime(
    id = "bug_dollar_quote_rename_table",
    rename_table(from = "Order $zdm$ Items", to = "Bestellungen")
)]
struct DollarQuoteRenameTable;

#[test]
fn dollar_quote_in_a_table_name_rename_table() {
    let (db, mut client) = database("hostile_bug_dollar_rename_table");
    let before = keyed_table(
        &mut client,
        "Order $zdm$ Items",
        "\"select\" text",
        "'item ' || g",
    );

    run_every_phase(&db, &mut client, &DollarQuoteRenameTable);
    assert_eq!(checksum(&mut client, "Bestellungen"), before.checksum);

    revert_every_phase(&db, &mut client, &DollarQuoteRenameTable);
    assert_eq!(table(&mut client, "Order $zdm$ Items"), before);
}

/// A backfilled column on a table whose name holds `{range}`.
#[zero_downtime(
    id = "bug_range_placeholder",
    add_column(
        table = "Order {range} Items",
        column = "it's",
        ty = "bigint",
        backfill = "\"ID\" * 2"
    )
)]
struct RangePlaceholder;

#[test]
fn range_placeholder_in_a_table_name_add_column() {
    let (db, mut client) = database("hostile_bug_range_placeholder");
    let before = keyed_table(
        &mut client,
        "Order {range} Items",
        "\"select\" text",
        "'item ' || g",
    );

    run_every_phase(&db, &mut client, &RangePlaceholder);
    let doubled: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order {range} Items" WHERE "it's" = "ID" * 2"#,
    );
    assert_eq!(doubled, ROWS);

    revert_every_phase(&db, &mut client, &RangePlaceholder);
    assert_eq!(table(&mut client, "Order {range} Items"), before);
}

/// NULLs filled on a table whose name holds `{key}`.
#[zero_downtime(
    id = "bug_key_placeholder",
    add_not_null(table = "Order {key} Items", column = "it's", backfill = "0")
)]
struct KeyPlaceholder;

#[test]
fn key_placeholder_in_a_table_name_add_not_null() {
    let (db, mut client) = database("hostile_bug_key_placeholder");
    let before = keyed_table(
        &mut client,
        "Order {key} Items",
        "\"it's\" bigint",
        "CASE WHEN g % 2 = 0 THEN g END",
    );

    run_every_phase(&db, &mut client, &KeyPlaceholder);
    assert!(column(&mut client, "Order {key} Items", "it's").unwrap().not_null);

    revert_every_phase(&db, &mut client, &KeyPlaceholder);
    assert_eq!(table(&mut client, "Order {key} Items"), before);
}

/// A rename of a column whose name holds `{old_type}`, of a domain whose name needs quotes.
#[zero_downtime(
    id = "bug_old_type_placeholder",
    rename_column(
        table = "Order \"Items\"; DROP TABLE x",
        from = "Preis {old_type}",
        to = "Preis"
    )
)]
struct OldTypePlaceholder;

#[test]
fn old_type_placeholder_in_a_column_name_rename_column() {
    let (db, mut client) = database("hostile_bug_old_type_placeholder");
    client
        .batch_execute("CREATE DOMAIN \"Geld Betrag\" AS integer")
        .unwrap();
    let before = keyed_table(&mut client, ORDERS, "\"Preis {old_type}\" \"Geld Betrag\"", "g");

    run_every_phase(&db, &mut client, &OldTypePlaceholder);
    assert_eq!(
        column(&mut client, ORDERS, "Preis").unwrap().ty,
        "\"Geld Betrag\""
    );

    revert_every_phase(&db, &mut client, &OldTypePlaceholder);
    assert_eq!(table(&mut client, ORDERS), before);
}

/// A backfill whose string literal holds `{key}`: a fragment, not a name, but the same
/// substitution.
#[zero_downtime(
    id = "bug_key_in_backfill_literal",
    add_column(
        table = "Order \"Items\"; DROP TABLE x",
        column = "Notiz",
        ty = "text",
        backfill = "'{key}'"
    )
)]
struct KeyInBackfillLiteral;

#[test]
fn key_placeholder_in_a_backfill_literal_add_column() {
    let (db, mut client) = database("hostile_bug_key_in_backfill_literal");
    let before = keyed_table(&mut client, ORDERS, "\"select\" text", "'item ' || g");

    run_every_phase(&db, &mut client, &KeyInBackfillLiteral);
    let literal: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "Notiz" = '{key}'"#,
    );
    assert_eq!(literal, ROWS, "rows holding the declared literal");

    revert_every_phase(&db, &mut client, &KeyInBackfillLiteral);
    assert_eq!(table(&mut client, ORDERS), before);
}

// ---------------------------------------------------------------------------------------
// add_check, add_unique, add_primary_key, create_enum, add_enum_value

/// A check named like an injection over a column named `it's`, fixed from the column
/// named `select`.
#[zero_downtime(
    id = "hostile_add_check",
    add_check(
        table = "Order \"Items\"; DROP TABLE x",
        name = "it's \"checked\"; DROP TABLE x",
        check = "\"it's\" <> 'bad''; DROP TABLE x'",
        fix_column = "it's",
        fix = "'fixed \"' || \"select\" || '\"; DROP TABLE x'"
    )
)]
struct AddCheck;

#[test]
fn add_check_over_hostile_names() {
    let (db, mut client) = database("hostile_add_check");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "it's" text);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g,
                   CASE WHEN g % 3 = 0 THEN 'bad''; DROP TABLE x' ELSE 'good ' || g END
               FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &AddCheck);
    let fixed: i64 = scalar(
        &mut client,
        r#"SELECT count(*) FROM "Order ""Items""; DROP TABLE x" WHERE "it's" = 'fixed "item ' || "ID" || '"; DROP TABLE x'"#,
    );
    assert_eq!(fixed, ROWS / 3);
    let constraints_after = constraints(&mut client, ORDERS);
    let (_, kind, valid, _) = constraint(&constraints_after, "it's \"checked\"; DROP TABLE x").unwrap();
    assert!(kind == "c" && *valid, "{constraints_after:?}");
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());

    revert_every_phase(&db, &mut client, &AddCheck);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());
}

/// `it's` becomes unique under a hostile constraint name.
#[zero_downtime(
    id = "hostile_add_unique",
    add_unique(
        table = "Order \"Items\"; DROP TABLE x",
        columns = ["it's", "select"],
        name = "uq \"it's\"; DROP TABLE x"
    )
)]
struct AddUnique;

/// `select` becomes the primary key, under PostgreSQL's default name for it.
#[zero_downtime(
    id = "hostile_add_primary_key",
    add_primary_key(table = "Order \"Items\"; DROP TABLE x", columns = ["select"])
)]
struct AddPrimaryKey;

#[test]
fn add_unique_and_add_primary_key_over_hostile_names() {
    for (test, migration, constraint_name, kind) in [
        (
            "hostile_add_unique",
            &AddUnique as &dyn Migration,
            "uq \"it's\"; DROP TABLE x",
            "u",
        ),
        (
            "hostile_add_primary_key",
            &AddPrimaryKey,
            "Order \"Items\"; DROP TABLE x_pkey",
            "p",
        ),
    ] {
        let (db, mut client) = database(test);
        client
            .batch_execute(&format!(
                r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("select" text NOT NULL, "it's" text);
                   INSERT INTO "Order ""Items""; DROP TABLE x" SELECT 'item '';" ' || g, 'it''s ' || g
                   FROM generate_series(1, {ROWS}) g;"#
            ))
            .unwrap();
        let before = table(&mut client, ORDERS);
        run_every_phase(&db, &mut client, migration);
        let constraints_after = constraints(&mut client, ORDERS);
        let found = constraint(&constraints_after, constraint_name);
        assert!(
            matches!(found, Some((_, found_kind, true, _)) if found_kind == kind),
            "{test}: {constraints_after:?}"
        );
        assert!(index(&indexes(&mut client, ORDERS), constraint_name).is_some());
        revert_every_phase(&db, &mut client, migration);
        assert_eq!(table(&mut client, ORDERS), before, "{test}");
    }
}

const MOOD: &str = "Mood \"Types\"; DROP TABLE x";

/// An enum type and values named like injections.
#[zero_downtime(
    id = "hostile_create_enum",
    create_enum(name = "Mood \"Types\"; DROP TABLE x", values = ["it's", "\"quoted\"; DROP TABLE x"])
)]
struct CreateEnum;

/// A value added before the quoted one.
#[zero_downtime(
    id = "hostile_add_enum_value",
    add_enum_value(
        name = "Mood \"Types\"; DROP TABLE x",
        value = "ok'); DROP TABLE x; --",
        before = "\"quoted\"; DROP TABLE x"
    )
)]
struct AddEnumValue;

fn enum_labels(client: &mut Client) -> Option<Vec<String>> {
    client
        .query_one(
            "SELECT (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = to_regtype($1))",
            &[&quote_ident(MOOD)],
        )
        .unwrap()
        .get(0)
}

#[test]
fn create_enum_and_add_enum_value_over_hostile_names() {
    let (db, mut client) = database("hostile_enums");
    run_every_phase(&db, &mut client, &CreateEnum);
    run_every_phase(&db, &mut client, &AddEnumValue);
    let labels = ["it's", "ok'); DROP TABLE x; --", "\"quoted\"; DROP TABLE x"];
    assert_eq!(enum_labels(&mut client), Some(labels.map(str::to_owned).to_vec()));
    revert_every_phase(&db, &mut client, &AddEnumValue);
    assert_eq!(
        enum_labels(&mut client),
        Some(labels.map(str::to_owned).to_vec()),
        "PostgreSQL cannot drop an enum value: the unused one stays"
    );
    revert_every_phase(&db, &mut client, &CreateEnum);
    assert_eq!(enum_labels(&mut client), None);
}

// ---------------------------------------------------------------------------------------
// sql

/// Raw SQL over quoted hostile names, with `;`, `$zdm$` and `{state}` inside identifiers
/// and strings: zdm splits it into statements and fills in `{state}` only where they stand
/// as code, so every one of them must reach the server as written.
#[zero_downtime(
    id = "hostile_sql",
    sql(
        up = r#"ALTER TABLE "Order ""Items""; DROP TABLE x" ADD COLUMN "it's; {state} $zdm$" text;
                COMMENT ON COLUMN "Order ""Items""; DROP TABLE x"."it's; {state} $zdm$" IS 'it''s; DROP TABLE x; {state} $zdm$'"#,
        down = r#"ALTER TABLE "Order ""Items""; DROP TABLE x" DROP COLUMN "it's; {state} $zdm$""#,
        lock = "ACCESS EXCLUSIVE"
    )
)]
struct RawSql;

#[test]
fn sql_over_hostile_names() {
    let (db, mut client) = database("hostile_sql");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &RawSql);
    let column_name = "it's; {state} $zdm$";
    assert!(column(&mut client, ORDERS, column_name).is_some());
    let comment: String = client
        .query_one(
            "SELECT col_description(to_regclass($1), attnum) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2",
            &[&quote_ident(ORDERS), &column_name],
        )
        .unwrap()
        .get(0);
    assert_eq!(comment, "it's; DROP TABLE x; {state} $zdm$");

    revert_every_phase(&db, &mut client, &RawSql);
    assert_eq!(table(&mut client, ORDERS), before);
}

// ---------------------------------------------------------------------------------------
// drop_table

/// The hostile table goes, set aside at contract with its hostile index and sequence.
#[zero_downtime(
    id = "hostile_drop_table",
    drop_table(table = "Order \"Items\"; DROP TABLE x")
)]
struct DropTable;

#[test]
fn drop_table_over_hostile_names() {
    let (db, mut client) = database("hostile_drop_table");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigserial PRIMARY KEY, "select" text NOT NULL);
               CREATE INDEX "it's; ""idx""" ON "Order ""Items""; DROP TABLE x" ("select");
               INSERT INTO "Order ""Items""; DROP TABLE x" ("select") SELECT 'item ' || g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    run_every_phase(&db, &mut client, &DropTable);
    assert!(!exists(&mut client, ORDERS));
    let set_aside: i64 = scalar(&mut client, "SELECT count(*) FROM zdm.hostile_drop_table_dropped");
    assert_eq!(set_aside, ROWS);

    revert_every_phase(&db, &mut client, &DropTable);
    assert_eq!(table(&mut client, ORDERS), before);

    run_every_phase(&db, &mut client, &DropTable);
    db.runner().purge(&DropTable).unwrap();
    assert_sentinel_intact(&mut client, "after purge");
    assert!(scalar::<bool>(
        &mut client,
        "SELECT to_regclass('zdm.hostile_drop_table_dropped') IS NULL"
    ));
}

// ---------------------------------------------------------------------------------------
// drop_column

/// A column named `it's` goes; rows written without it get `down`, read from `select`.
#[zero_downtime(
    id = "hostile_drop_column",
    drop_column(
        table = "Order \"Items\"; DROP TABLE x",
        column = "it's",
        down = "upper(\"select\") || ' it''s; \"ok\"'"
    )
)]
struct DropColumn;

#[test]
fn drop_column_over_hostile_names() {
    let (db, mut client) = database("hostile_drop_column");
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY, "select" text NOT NULL, "it's" text NOT NULL);
               INSERT INTO "Order ""Items""; DROP TABLE x" SELECT g, 'item ' || g, 'set ' || g FROM generate_series(1, {ROWS}) g;"#
        ))
        .unwrap();
    let before = table(&mut client, ORDERS);

    let mut runner = db.runner();
    runner.run_to(&DropColumn, Phase::Sync).unwrap();
    client
        .batch_execute(r#"INSERT INTO "Order ""Items""; DROP TABLE x" ("ID", "select") VALUES (0, 'new')"#)
        .unwrap();
    drop(runner);
    let filled: String = scalar(
        &mut client,
        r#"SELECT "it's" FROM "Order ""Items""; DROP TABLE x" WHERE "ID" = 0"#,
    );
    assert_eq!(filled, "NEW it's; \"ok\"");
    client
        .batch_execute(r#"DELETE FROM "Order ""Items""; DROP TABLE x" WHERE "ID" = 0"#)
        .unwrap();
    let mut runner = db.runner();
    runner.run(&DropColumn, Phase::Backfill).unwrap();
    runner.run(&DropColumn, Phase::Contract).unwrap();
    drop(runner);
    assert_sentinel_intact(&mut client, "after contract");
    assert!(column(&mut client, ORDERS, "it's").is_none());
    assert!(column(&mut client, ORDERS, "zdm_hostile_drop_column_it's").is_some());

    revert_every_phase(&db, &mut client, &DropColumn);
    assert_eq!(table(&mut client, ORDERS), before);
    assert_eq!(triggers(&mut client, ORDERS), Vec::<String>::new());

    run_every_phase(&db, &mut client, &DropColumn);
    db.runner().purge(&DropColumn).unwrap();
    assert_sentinel_intact(&mut client, "after purge");
    assert!(column(&mut client, ORDERS, "zdm_hostile_drop_column_it's").is_none());
}

// ---------------------------------------------------------------------------------------
// create_table

const EVENTS: &str = "Ereignisse \"Log\"; DROP TABLE x";

/// A table of hostile names referencing the hostile table, with a hostile default and check.
#[zero_downtime(
    id = "hostile_create_table",
    create_table(
        table = "Ereignisse \"Log\"; DROP TABLE x",
        column(name = "ID", ty = "bigint"),
        column(
            name = "it's",
            ty = "bigint",
            not_null,
            references = "Order \"Items\"; DROP TABLE x"
        ),
        column(
            name = "select",
            ty = "text",
            default = "'it''s; \"ok\"'",
            not_null,
            check = "\"select\" <> ''"
        ),
        primary_key = "ID"
    )
)]
struct CreateTable;

#[test]
fn create_table_over_hostile_names() {
    let (db, mut client) = database("hostile_create_table");
    client
        .batch_execute(
            r#"CREATE TABLE "Order ""Items""; DROP TABLE x" ("ID" bigint PRIMARY KEY);
               INSERT INTO "Order ""Items""; DROP TABLE x" VALUES (1), (2);"#,
        )
        .unwrap();

    run_every_phase(&db, &mut client, &CreateTable);
    client
        .batch_execute(r#"INSERT INTO "Ereignisse ""Log""; DROP TABLE x" ("ID", "it's") VALUES (1, 2)"#)
        .unwrap();
    let value: String = scalar(
        &mut client,
        r#"SELECT "select" FROM "Ereignisse ""Log""; DROP TABLE x""#,
    );
    assert_eq!(value, "it's; \"ok\"");
    client
        .batch_execute(r#"DELETE FROM "Ereignisse ""Log""; DROP TABLE x""#)
        .unwrap();

    revert_every_phase(&db, &mut client, &CreateTable);
    assert!(!exists(&mut client, EVENTS));
}
