//! Several operations in one declaration, end to end against a real PostgreSQL: each phase
//! runs every operation's steps in written order (a later one builds on what an earlier one
//! made in the same phase), each reversal undoes them latest first, one state row records
//! the whole, every phase reverts to the table it started from, old and new versions write
//! through every phase, and hostile names are quoted everywhere. The crash test
//! (`tests/crash.rs`, pattern `multi_operation`) kills and resumes such a declaration in
//! every phase.

use postgres::Client;
use zdm_runtime::{quote_ident, zero_downtime, Action, Migration, Phase, Runner};
use zdm_suite::{
    assert_revert_restores, column, constraints, contents, indexes, run_phases_under_load, scalar, sqlstate,
    table_catalog, triggers, TestDb, Writer,
};

/// Orders get a customer: the column, an index of each customer's orders by total and the
/// foreign key (which builds its own index on the column), in one change.
#[zero_downtime(
    id = "multi_customer",
    add_column(table = "orders", column = "customer_id", ty = "bigint", backfill = "(id % 5) + 1"),
    add_index(table = "orders", columns = ["customer_id", "total"]),
    add_foreign_key(table = "orders", column = "customer_id", references = "customers", existing_column)
)]
struct OrderCustomer;

/// Orders get a currency every order must have.
#[zero_downtime(
    id = "multi_currency",
    add_column(table = "orders", column = "currency", ty = "text"),
    add_not_null(table = "orders", column = "currency", backfill = "'EUR'")
)]
struct OrderCurrency;

/// `note` becomes `remark`, which is indexed under its new name.
#[zero_downtime(
    id = "multi_remark",
    rename_column(table = "orders", from = "note", to = "remark"),
    add_index(table = "orders", columns = "remark")
)]
struct IndexedRemark;

/// Two columns: one derived from another column, one with a default.
#[zero_downtime(
    id = "multi_two_columns",
    add_column(
        table = "orders",
        column = "total_cents",
        ty = "bigint",
        backfill = "total * 100"
    ),
    add_column(table = "orders", column = "channel", ty = "text", default = "'web'")
)]
struct TwoColumns;

/// NOT NULL on two tables, each backfill recording the rows it filled in a record of its own.
#[zero_downtime(
    id = "multi_two_tables",
    add_not_null(table = "orders", column = "note", backfill = "'none'"),
    add_not_null(table = "customers", column = "name", backfill = "'nameless'")
)]
struct TwoTables;

/// Customers, and 600 orders (three backfill batches at the default size), every third
/// without a note.
fn orders(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE customers (id bigint PRIMARY KEY, name text);
             INSERT INTO customers SELECT g, CASE WHEN g <> 5 THEN 'customer ' || g END FROM generate_series(1, 5) g;
             CREATE TABLE orders (id bigint PRIMARY KEY, total integer NOT NULL, note text);
             INSERT INTO orders SELECT g, g % 90, CASE WHEN g % 3 <> 0 THEN 'note ' || g END
             FROM generate_series(1, 600) g;",
        )
        .unwrap();
    client
}

fn valid_index(client: &mut Client, name: &str) -> bool {
    indexes(client, "orders")
        .iter()
        .any(|(index, valid, _)| index == name && *valid)
}

fn every_phase(runner: &mut Runner, migration: &dyn Migration) {
    for phase in Phase::ALL {
        if let Err(error) = runner.run(migration, phase) {
            panic!("{phase}: {error}");
        }
    }
}

fn revert_every_phase(runner: &mut Runner, migration: &dyn Migration) {
    for phase in Phase::ALL.into_iter().rev() {
        if let Err(error) = runner.revert(migration, phase) {
            panic!("reverting {phase}: {error}");
        }
    }
    assert_eq!(runner.state(migration).unwrap().completed, None);
}

/// The table as reverting must give it back: catalog (columns, indexes, constraints,
/// triggers) and contents.
fn orders_table(client: &mut Client) -> (Vec<String>, String) {
    (table_catalog(client, "orders"), contents(client, "orders"))
}

#[test]
fn the_plan_runs_each_phase_in_written_order_and_reverts_latest_first() {
    let plan = OrderCustomer.plan();
    assert_eq!(plan.operation, "add_column + add_index + add_foreign_key");
    let expand = plan.phase(Phase::Expand);
    let position = |steps: &[zdm_runtime::Step], what: &dyn Fn(&zdm_runtime::Step) -> bool| {
        steps.iter().position(what).expect("the step is in the plan")
    };
    let adds_key = |step: &zdm_runtime::Step| {
        step.statements()
            .iter()
            .any(|sql| sql.contains("FOREIGN KEY (\"customer_id\")"))
    };
    let adds_column = |step: &zdm_runtime::Step| {
        step.statements()
            .iter()
            .any(|sql| sql.contains("ADD COLUMN \"customer_id\""))
    };
    let builds = |index: &'static str| move |step: &zdm_runtime::Step| matches!(&step.action, Action::CreateIndexConcurrently { index: built, .. } if built == index);
    let forward = &expand.forward;
    let declared_index = "\"orders_customer_id_total_idx\"";
    let key_index = "\"orders_customer_id_idx\"";
    assert!(position(forward, &adds_column) < position(forward, &builds(declared_index)));
    assert!(position(forward, &builds(declared_index)) < position(forward, &builds(key_index)));
    let drops_column = |step: &zdm_runtime::Step| {
        step.statements()
            .iter()
            .any(|sql| sql.contains("DROP COLUMN IF EXISTS \"customer_id\""))
    };
    let drops = |index: &'static str| move |step: &zdm_runtime::Step| matches!(&step.action, Action::DropIndexConcurrently { index: dropped, .. } if dropped == index);
    let reverse = &expand.reverse;
    assert!(position(reverse, &drops(key_index)) < position(reverse, &drops(declared_index)));
    assert!(position(reverse, &drops(declared_index)) < position(reverse, &drops_column));
    let contract = plan.phase(Phase::Contract);
    assert!(
        contract.forward.iter().any(adds_key),
        "the foreign key is added at contract"
    );
    let printed = plan.to_string();
    assert!(
        printed.starts_with("multi_customer (add_column + add_index + add_foreign_key)\n"),
        "{printed}"
    );
    assert!(printed.contains("  sync: add_column: "), "{printed}");
}

#[test]
fn column_index_and_foreign_key_run_as_one_change() {
    let db = TestDb::new("multi_customer_cycle");
    let mut client = orders(&db);
    let initial = orders_table(&mut client);
    let mut runner = db.runner();

    runner.run(&OrderCustomer, Phase::Expand).unwrap();
    assert!(valid_index(&mut client, "orders_customer_id_total_idx"));
    assert!(valid_index(&mut client, "orders_customer_id_idx"));
    assert!(
        !constraints(&mut client, "orders")
            .iter()
            .any(|(name, ..)| name == "orders_customer_id_fkey"),
        "the foreign key waits for contract"
    );

    runner.run(&OrderCustomer, Phase::Sync).unwrap();
    client
        .execute("INSERT INTO orders (id, total) VALUES (1000, 1)", &[])
        .unwrap();
    let filled: Option<i64> = scalar(&mut client, "SELECT customer_id FROM orders WHERE id = 1000");
    assert_eq!(
        filled,
        Some(1),
        "the old version's insert is filled by the sync trigger"
    );

    runner.run(&OrderCustomer, Phase::Backfill).unwrap();
    let unfilled: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE customer_id IS NULL",
    );
    assert_eq!(unfilled, 0);
    runner.run(&OrderCustomer, Phase::Contract).unwrap();
    let key = constraints(&mut client, "orders")
        .into_iter()
        .find(|(name, ..)| name == "orders_customer_id_fkey")
        .expect("the foreign key after contract");
    assert!(key.2, "validated at contract: {key:?}");
    assert!(triggers(&mut client, "orders").is_empty());
    let error = client
        .execute(
            "INSERT INTO orders (id, total, customer_id) VALUES (1001, 1, 99)",
            &[],
        )
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );

    // One state row for the declaration, naming every operation.
    let rows: Vec<(String, String, Option<String>)> = client
        .query("SELECT id, operation, completed FROM zdm.migrations", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        rows,
        [(
            "multi_customer".to_owned(),
            "add_column + add_index + add_foreign_key".to_owned(),
            Some("contract".to_owned())
        )]
    );

    client.execute("DELETE FROM orders WHERE id = 1000", &[]).unwrap();
    revert_every_phase(&mut runner, &OrderCustomer);
    assert_eq!(orders_table(&mut client), initial);
}

#[test]
fn column_index_and_foreign_key_revert_every_phase() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("multi_customer_revert_{phase}"));
        orders(&db);
        assert_revert_restores(&db, &OrderCustomer, phase, "orders");
    }
}

#[test]
fn a_new_column_made_not_null_in_the_same_change() {
    let db = TestDb::new("multi_currency_cycle");
    let mut client = orders(&db);
    let initial = orders_table(&mut client);
    let mut runner = db.runner();
    runner.run(&OrderCurrency, Phase::Expand).unwrap();
    runner.run(&OrderCurrency, Phase::Sync).unwrap();
    client
        .execute("INSERT INTO orders (id, total) VALUES (1000, 1)", &[])
        .unwrap();
    let currency: Option<String> = scalar(&mut client, "SELECT currency FROM orders WHERE id = 1000");
    assert_eq!(currency.as_deref(), Some("EUR"));
    runner.run(&OrderCurrency, Phase::Backfill).unwrap();
    runner.run(&OrderCurrency, Phase::Contract).unwrap();
    assert!(column(&mut client, "orders", "currency").unwrap().not_null);
    let other: i64 = scalar(&mut client, "SELECT count(*) FROM orders WHERE currency <> 'EUR'");
    assert_eq!(other, 0);
    let error = client
        .execute(
            "INSERT INTO orders (id, total, currency) VALUES (1001, 1, NULL)",
            &[],
        )
        .unwrap_err();
    assert_eq!(error.code(), Some(&postgres::error::SqlState::NOT_NULL_VIOLATION));

    client.execute("DELETE FROM orders WHERE id = 1000", &[]).unwrap();
    revert_every_phase(&mut runner, &OrderCurrency);
    assert_eq!(orders_table(&mut client), initial);
}

#[test]
fn a_new_column_made_not_null_reverts_every_phase() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("multi_currency_revert_{phase}"));
        orders(&db);
        assert_revert_restores(&db, &OrderCurrency, phase, "orders");
    }
}

#[test]
fn a_renamed_column_indexed_under_its_new_name() {
    let db = TestDb::new("multi_remark_cycle");
    let mut client = orders(&db);
    let initial = orders_table(&mut client);
    let notes: String = scalar(
        &mut client,
        "SELECT string_agg(coalesce(note, '-'), ',' ORDER BY id) FROM orders",
    );
    let mut runner = db.runner();
    every_phase(&mut runner, &IndexedRemark);
    assert!(column(&mut client, "orders", "note").is_none());
    assert!(valid_index(&mut client, "orders_remark_idx"));
    let remarks: String = scalar(
        &mut client,
        "SELECT string_agg(coalesce(remark, '-'), ',' ORDER BY id) FROM orders",
    );
    assert_eq!(remarks, notes);
    let used: String = scalar(
        &mut client,
        "SELECT pg_get_indexdef('orders_remark_idx'::regclass)",
    );
    assert!(used.ends_with("USING btree (remark)"), "{used}");

    revert_every_phase(&mut runner, &IndexedRemark);
    assert_eq!(orders_table(&mut client), initial);
}

#[test]
fn a_renamed_column_indexed_under_its_new_name_reverts_every_phase() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("multi_remark_revert_{phase}"));
        orders(&db);
        // The catalog and contents compared leave out the column order: reverting a
        // contract re-adds the old column last, as the README says.
        assert_revert_restores(&db, &IndexedRemark, phase, "orders");
    }
}

#[test]
fn two_added_columns_run_as_one_change() {
    let db = TestDb::new("multi_two_columns_cycle");
    let mut client = orders(&db);
    let initial = orders_table(&mut client);
    let mut runner = db.runner();
    every_phase(&mut runner, &TwoColumns);
    let wrong: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE total_cents IS DISTINCT FROM total * 100 OR channel IS DISTINCT FROM 'web'",
    );
    assert_eq!(wrong, 0);
    revert_every_phase(&mut runner, &TwoColumns);
    assert_eq!(orders_table(&mut client), initial);
}

#[test]
fn two_backfills_keep_their_records_apart() {
    let db = TestDb::new("multi_two_tables");
    let mut client = orders(&db);
    let customers = |client: &mut Client| (table_catalog(client, "customers"), contents(client, "customers"));
    let initial = (orders_table(&mut client), customers(&mut client));
    let mut runner = db.runner();
    runner.run_to(&TwoTables, Phase::Backfill).unwrap();
    let records: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = 'zdm'::regnamespace AND relkind = 'r' \
             AND relname LIKE 'multi_two_tables%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(records, ["multi_two_tables/2_filled", "multi_two_tables_filled"]);
    let recorded = |client: &mut Client, record: &str| -> i64 {
        scalar(
            client,
            &format!(
                "SELECT count(*) FROM zdm.{}, unnest(zdm_keys)",
                quote_ident(record)
            ),
        )
    };
    assert_eq!(
        recorded(&mut client, "multi_two_tables_filled"),
        200,
        "the orders without a note"
    );
    assert_eq!(
        recorded(&mut client, "multi_two_tables/2_filled"),
        1,
        "the customer without a name"
    );
    runner.revert(&TwoTables, Phase::Backfill).unwrap();
    // Each record gave its own table its NULLs back.
    assert_eq!(contents(&mut client, "orders"), initial.0 .1);
    assert_eq!(contents(&mut client, "customers"), initial.1 .1);
    runner.run(&TwoTables, Phase::Backfill).unwrap();
    runner.run(&TwoTables, Phase::Contract).unwrap();
    assert!(column(&mut client, "orders", "note").unwrap().not_null);
    assert!(column(&mut client, "customers", "name").unwrap().not_null);
    revert_every_phase(&mut runner, &TwoTables);
    assert_eq!((orders_table(&mut client), customers(&mut client)), initial);
}

#[test]
fn two_added_columns_revert_every_phase() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("multi_two_columns_revert_{phase}"));
        orders(&db);
        assert_revert_restores(&db, &TwoColumns, phase, "orders");
    }
}

/// A refusal by a later operation's check, after an earlier one changed the table, leaves
/// the phase resumable and revertible.
#[test]
fn a_later_operation_refused_mid_phase_leaves_the_phase_revertible() {
    let db = TestDb::new("multi_customer_refused");
    let mut client = orders(&db);
    let initial = orders_table(&mut client);
    // The foreign key's target has no unique index: refused by its check, after the
    // column and the index were made.
    client
        .batch_execute("ALTER TABLE customers DROP CONSTRAINT customers_pkey")
        .unwrap();
    let mut runner = db.runner();
    let error = runner.run(&OrderCustomer, Phase::Expand).unwrap_err();
    assert!(error.to_string().contains("\"customers\".\"id\""), "{error}");
    assert!(
        sqlstate(&error).is_none(),
        "refused by zdm, not by the server: {error}"
    );
    assert!(column(&mut client, "orders", "customer_id").is_some());
    let state = runner.state(&OrderCustomer).unwrap();
    assert_eq!(state.running.map(|(phase, _)| phase), Some(Phase::Expand));
    runner.revert(&OrderCustomer, Phase::Expand).unwrap();
    assert_eq!(orders_table(&mut client), initial);
    client
        .batch_execute("ALTER TABLE customers ADD PRIMARY KEY (id)")
        .unwrap();
    every_phase(&mut runner, &OrderCustomer);
}

/// Old and new versions write through every phase: the old one inserts orders without a
/// customer and changes totals, the new one inserts orders with one. At the end every order
/// has the customer its version gave it (the old version's from the declared expression),
/// and the foreign key is validated over all of them.
#[test]
fn old_and_new_versions_write_through_every_phase() {
    let db = TestDb::new("multi_customer_mixed");
    orders(&db);
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Backfill, |client, _, n| {
        let id = 100_000 + n;
        client
            .execute("INSERT INTO orders (id, total) VALUES ($1, 7)", &[&id])
            .unwrap();
        client
            .execute(
                "UPDATE orders SET total = total + 1 WHERE id = $1",
                &[&(n % 600 + 1)],
            )
            .unwrap();
    });
    let new_version = Writer::new("new version", Phase::Sync..=Phase::Contract, |client, _, n| {
        let id = 1_000_000 + n;
        client
            .execute(
                "INSERT INTO orders (id, total, customer_id) VALUES ($1, 9, $2)",
                &[&id, &(n % 5 + 1)],
            )
            .unwrap();
    });
    run_phases_under_load(&db, &OrderCustomer, vec![old_version, new_version]);
    let mut client = db.connect();
    let wrong: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM orders WHERE customer_id IS DISTINCT FROM CASE \
         WHEN id >= 1000000 THEN (id - 1000000) % 5 + 1 ELSE (id % 5) + 1 END",
    );
    assert_eq!(wrong, 0);
    let written: i64 = scalar(
        &mut client,
        "SELECT count(DISTINCT id >= 1000000) FROM orders WHERE id >= 100000",
    );
    assert_eq!(written, 2, "both versions wrote");
    let key = constraints(&mut client, "orders")
        .into_iter()
        .find(|(name, ..)| name == "orders_customer_id_fkey")
        .expect("the foreign key");
    assert!(key.2, "{key:?}");
}

// ---------------------------------------------------------------------------------------
// hostile names

/// A column named `it's` on a table whose name is an injection, filled, made NOT NULL and
/// indexed in one change.
#[zero_downtime(
    id = "multi_hostile",
    add_column(table = "Order \"Items\"; DROP TABLE x", column = "it's", ty = "text"),
    add_not_null(
        table = "Order \"Items\"; DROP TABLE x",
        column = "it's",
        backfill = "'it''s; \"ok\"'"
    ),
    add_index(table = "Order \"Items\"; DROP TABLE x", columns = "it's")
)]
struct Hostile;

#[test]
fn several_operations_over_hostile_names() {
    const TABLE: &str = "Order \"Items\"; DROP TABLE x";
    let db = TestDb::new("multi_hostile");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE x (id int PRIMARY KEY); INSERT INTO x VALUES (1);
             CREATE TABLE {table} (id bigint PRIMARY KEY, \"select\" text);
             INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, 600) g;",
            table = quote_ident(TABLE)
        ))
        .unwrap();
    let initial = (table_catalog(&mut client, TABLE), contents(&mut client, TABLE));
    let sentinel = |client: &mut Client| -> i64 { scalar(client, "SELECT count(*) FROM public.x") };
    let mut runner = db.runner();
    for phase in Phase::ALL {
        runner
            .run(&Hostile, phase)
            .unwrap_or_else(|error| panic!("{phase}: {error}"));
        assert_eq!(sentinel(&mut client), 1, "after {phase}");
    }
    assert!(column(&mut client, TABLE, "it's").unwrap().not_null);
    let index = indexes(&mut client, TABLE)
        .into_iter()
        .find(|(name, ..)| name.ends_with("it's_idx"))
        .expect("the index on it's");
    assert!(index.1, "{index:?}");
    let filled: i64 = scalar(
        &mut client,
        &format!(
            "SELECT count(*) FROM {} WHERE \"it's\" = 'it''s; \"ok\"'",
            quote_ident(TABLE)
        ),
    );
    assert_eq!(filled, 600);
    for phase in Phase::ALL.into_iter().rev() {
        runner
            .revert(&Hostile, phase)
            .unwrap_or_else(|error| panic!("reverting {phase}: {error}"));
        assert_eq!(sentinel(&mut client), 1, "after reverting {phase}");
    }
    assert_eq!(
        (table_catalog(&mut client, TABLE), contents(&mut client, TABLE)),
        initial
    );
}

// ---------------------------------------------------------------------------------------
// the command line

/// `examples/multi_operation.rs`'s binary, the zdm CLI over its one declaration.
fn example(url: &str, args: &[&str]) -> String {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "multi_operation"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building the multi_operation example");
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let output = std::process::Command::new(deps.parent().unwrap().join("examples").join("multi_operation"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .env_remove("ZDM_STATE_SCHEMA")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn plan_and_status_name_every_operation_in_written_order() {
    let db = TestDb::new("multi_cli");
    let plan = example(db.url(), &["plan"]);
    assert!(
        plan.starts_with("example_multi_order_customer (add_column + add_foreign_key + add_index)\n"),
        "{plan}"
    );
    let status = example(db.url(), &["status"]);
    let lines: Vec<&str> = status.lines().collect();
    let operations = "add_column + add_foreign_key + add_index";
    assert_eq!(
        lines,
        [
            format!("{:<36} {:<40} {:<10} STATE", "ID", "OPERATION", "COMPLETED").as_str(),
            format!(
                "{:<36} {operations} {:<10} next: expand",
                "example_multi_order_customer", "pending"
            )
            .as_str(),
        ]
    );
}
