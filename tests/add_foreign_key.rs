//! `add_foreign_key` end to end against a real PostgreSQL: the catalog after every phase,
//! each reversal restoring both tables exactly, old and new versions writing through the
//! transition, and the seed's mistakes (NOT VALID validated in the same transaction, a bare
//! SET NOT NULL) shown not to happen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Phase};
use zdm_suite::{
    assert_revert_restores_with, checksum, column, columns, constraints, functions, indexes, proves_not_null,
    run_phases_under_load, scalar, trigger_definitions, triggers, TestDb, Writer,
};

/// Orders point at their customer by id instead of by email.
#[zero_downtime(
    id = "fk_customer",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        references = "customers",
        ty = "bigint",
        backfill = "(SELECT c.id FROM customers AS c WHERE c.email = customer_email)",
        on_delete = "cascade",
        not_null
    )
)]
struct AddCustomerFk;

/// The legacy column, already maintained by the application, becomes a foreign key.
#[zero_downtime(
    id = "fk_legacy",
    add_foreign_key(
        table = "orders",
        column = "legacy_customer_id",
        references = "customers",
        existing_column,
        ty = "bigint",
        on_delete = "set null"
    )
)]
struct LinkLegacyCustomer;

/// The legacy column's gaps are filled from the email, then it is required.
#[zero_downtime(
    id = "fk_legacy_fill",
    add_foreign_key(
        table = "orders",
        column = "legacy_customer_id",
        references = "customers",
        existing_column,
        backfill = "(SELECT c.id FROM customers AS c WHERE c.email = customer_email)",
        not_null
    )
)]
struct FillLegacyCustomer;

/// References a column that is not unique.
#[zero_downtime(
    id = "fk_code",
    add_foreign_key(
        table = "orders",
        column = "customer_code",
        references = "customers",
        referenced_column = "code",
        ty = "text"
    )
)]
struct AddCustomerCode;

/// References a column that does not exist.
#[zero_downtime(
    id = "fk_missing_column",
    add_foreign_key(
        table = "orders",
        column = "customer_ref",
        references = "customers",
        referenced_column = "reference",
        ty = "bigint"
    )
)]
struct AddCustomerRef;

/// A type PostgreSQL cannot compare with the referenced key.
#[zero_downtime(
    id = "fk_text",
    add_foreign_key(
        table = "orders",
        column = "customer_text",
        references = "customers",
        ty = "text"
    )
)]
struct AddCustomerText;

/// A narrower integer than the key, which PostgreSQL accepts.
#[zero_downtime(
    id = "fk_int",
    add_foreign_key(
        table = "orders",
        column = "customer_int",
        references = "customers",
        ty = "integer"
    )
)]
struct AddCustomerInt;

const CUSTOMERS: i64 = 200;

/// 200 customers; `orders` rows point at one by email, and half of them carry the legacy id.
fn shop(db: &TestDb, orders: i64) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, code text);
             INSERT INTO customers SELECT g, 'c' || g || '@x', 'C' || g FROM generate_series(1, {CUSTOMERS}) g;
             CREATE TABLE orders (id bigint PRIMARY KEY, customer_email text NOT NULL, amount int NOT NULL,
                                  legacy_customer_id bigint);
             INSERT INTO orders SELECT g, 'c' || (g % {CUSTOMERS} + 1) || '@x', g,
                                       CASE WHEN g % 2 = 0 THEN g % {CUSTOMERS} + 1 END
                                FROM generate_series(1, {orders}) g;"
        ))
        .unwrap();
    client
}

fn foreign_keys(client: &mut Client) -> Vec<(String, bool, String)> {
    constraints(client, "orders")
        .into_iter()
        .filter(|(_, kind, ..)| kind == "f")
        .map(|(name, _, valid, definition)| (name, valid, definition))
        .collect()
}

fn wrong_customer_ids(client: &mut Client, column: &str) -> i64 {
    scalar(
        client,
        &format!(
            "SELECT count(*) FROM orders o WHERE o.{column} IS DISTINCT FROM \
             (SELECT c.id FROM customers c WHERE c.email = o.customer_email)"
        ),
    )
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("add_foreign_key_full_cycle");
    let mut client = shop(&db, 1_000);
    let mut runner = db.runner();

    runner.run(&AddCustomerFk, Phase::Expand).unwrap();
    let added = column(&mut client, "orders", "customer_id").expect("column added");
    assert_eq!(
        (added.ty.as_str(), added.not_null, added.default),
        ("bigint", false, None)
    );
    assert!(indexes(&mut client, "orders").contains(&(
        "orders_customer_id_idx".to_owned(),
        true,
        "CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id)".to_owned()
    )));
    assert!(triggers(&mut client, "orders").is_empty());
    assert!(
        foreign_keys(&mut client).is_empty(),
        "no constraint while the old version runs"
    );

    runner.run(&AddCustomerFk, Phase::Sync).unwrap();
    assert_eq!(
        triggers(&mut client, "orders"),
        [
            "zdm_sync_orders_customer_id",
            "zdm_sync_orders_customer_id_insert"
        ]
    );
    // The old version inserts without the column, and moves an order to another customer
    // by email: the trigger keeps the id in step with the email (the seed's BEFORE UPDATE
    // trigger would miss the insert).
    client
        .batch_execute(
            "INSERT INTO orders (id, customer_email, amount) VALUES (5000, 'c7@x', 1);
             UPDATE orders SET customer_email = 'c9@x' WHERE id = 5000;",
        )
        .unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT customer_id FROM orders WHERE id = 5000"),
        9
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM orders WHERE customer_id IS NULL"
        ),
        1_000
    );

    let report = runner.run(&AddCustomerFk, Phase::Backfill).unwrap();
    assert_eq!(
        report.steps[0].rows, 1_000,
        "each row written once, in keyset batches"
    );
    assert_eq!(wrong_customer_ids(&mut client, "customer_id"), 0);

    runner.run(&AddCustomerFk, Phase::Contract).unwrap();
    assert_eq!(
        foreign_keys(&mut client),
        [(
            "orders_customer_id_fkey".to_owned(),
            true,
            "FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE".to_owned()
        )]
    );
    assert!(column(&mut client, "orders", "customer_id").unwrap().not_null);
    assert!(
        constraints(&mut client, "orders")
            .iter()
            .all(|(_, kind, ..)| kind != "c"),
        "the NOT NULL check is gone"
    );
    assert!(triggers(&mut client, "orders").is_empty());
    // The constraint works: a missing customer is refused, a deleted one cascades.
    let orphan = client
        .execute(
            "INSERT INTO orders (id, customer_email, amount, customer_id) VALUES (6000, 'c1@x', 1, 99999)",
            &[],
        )
        .unwrap_err();
    assert_eq!(
        orphan.code(),
        Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
    client
        .batch_execute("DELETE FROM customers WHERE id = 9")
        .unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM orders WHERE customer_id = 9"),
        0
    );
}

/// Everything a reversal must restore: both tables' contents, the catalog of `orders`
/// and the functions.
fn snapshot(client: &mut Client) -> impl PartialEq + std::fmt::Debug {
    (
        checksum(client, "orders"),
        checksum(client, "customers"),
        columns(client, "orders"),
        indexes(client, "orders"),
        trigger_definitions(client, "orders"),
        constraints(client, "orders"),
        constraints(client, "customers"),
        functions(client),
        scalar::<i64>(client, "SELECT count(*) FROM pg_tables WHERE schemaname = 'zdm'"),
    )
}

#[test]
fn each_reversal_restores_the_tables_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [
            ("new", &AddCustomerFk as &dyn Migration),
            ("legacy", &LinkLegacyCustomer),
            ("legacy_fill", &FillLegacyCustomer),
        ] {
            let db = TestDb::new(&format!("add_foreign_key_revert_{name}_{phase}"));
            shop(&db, 600);
            assert_revert_restores_with(&db, migration, phase, snapshot);
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_tables() {
    for (name, migration) in [
        ("new", &AddCustomerFk as &dyn Migration),
        ("legacy_fill", &FillLegacyCustomer),
    ] {
        let db = TestDb::new(&format!("add_foreign_key_revert_all_{name}"));
        let mut client = shop(&db, 300);
        let mut runner = db.runner();
        let before = snapshot(&mut client);
        runner.run_to(migration, Phase::Contract).unwrap();
        for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
            runner.revert(migration, phase).unwrap();
        }
        assert_eq!(snapshot(&mut client), before, "{name}");
        assert_eq!(runner.state(migration).unwrap().completed, None);
    }
}

#[test]
fn an_existing_column_gets_its_gaps_filled_and_only_those_are_undone() {
    let db = TestDb::new("add_foreign_key_existing_column");
    let mut client = shop(&db, 400);
    let mut runner = db.runner();
    runner.run_to(&FillLegacyCustomer, Phase::Sync).unwrap();
    // The application keeps writing the column it knows; the trigger only fills gaps.
    client
        .batch_execute(
            "INSERT INTO orders (id, customer_email, amount, legacy_customer_id) VALUES (5000, 'c7@x', 1, 3);
             INSERT INTO orders (id, customer_email, amount) VALUES (5001, 'c8@x', 1);",
        )
        .unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT legacy_customer_id FROM orders WHERE id = 5000"
        ),
        3
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT legacy_customer_id FROM orders WHERE id = 5001"
        ),
        8
    );
    let before_backfill = checksum(&mut client, "orders");
    let report = runner.run(&FillLegacyCustomer, Phase::Backfill).unwrap();
    assert_eq!(report.steps[1].rows, 200, "the odd rows had no legacy id");
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM zdm.fk_legacy_fill_filled, unnest(zdm_keys)"
        ),
        200
    );
    runner.revert(&FillLegacyCustomer, Phase::Backfill).unwrap();
    assert_eq!(checksum(&mut client, "orders"), before_backfill);
    assert_eq!(
        scalar::<Option<String>>(
            &mut client,
            "SELECT to_regclass('zdm.fk_legacy_fill_filled')::text"
        ),
        None
    );
    runner.run_to(&FillLegacyCustomer, Phase::Contract).unwrap();
    assert!(
        column(&mut client, "orders", "legacy_customer_id")
            .unwrap()
            .not_null
    );
    assert_eq!(foreign_keys(&mut client).len(), 1);
    // The even rows kept the id the application wrote, which differs from the email's.
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT legacy_customer_id FROM orders WHERE id = 5000"
        ),
        3
    );
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("add_foreign_key_mixed_versions");
    shop(&db, 1_000);
    // What each version wrote, by order id: (customer email, amount), None once deleted.
    type Written = Arc<Mutex<BTreeMap<i64, Option<(String, i32)>>>>;
    let written = Written::default();

    // The old version knows orders by customer email only; it is gone once contract starts.
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            let email = format!("c{}@x", n % CUSTOMERS + 1);
            client
                .execute(
                    "INSERT INTO orders (id, customer_email, amount) VALUES ($1, $2, 1)",
                    &[&id, &email],
                )
                .unwrap();
            record.lock().unwrap().insert(id, Some((email, 1)));
            // Moves one of its base orders (even ids) to another customer.
            let moved = (n % 500) * 2 + 2;
            let email = format!("c{}@x", (n + 17) % CUSTOMERS + 1);
            client
                .execute(
                    "UPDATE orders SET customer_email = $2, amount = amount + 1 WHERE id = $1",
                    &[&moved, &email],
                )
                .unwrap();
            let amount: i32 = scalar(client, &format!("SELECT amount FROM orders WHERE id = {moved}"));
            record.lock().unwrap().insert(moved, Some((email, amount)));
            if n % 3 == 0 {
                client
                    .execute("DELETE FROM orders WHERE id = $1", &[&id])
                    .unwrap();
                record.lock().unwrap().insert(id, None);
            }
        },
    );
    // The new version, deployed after sync, writes both the email and the id.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Sync..=Phase::Contract,
        move |client, _, n| {
            let id = 1_000_000 + n;
            let customer = n % CUSTOMERS + 1;
            let email = format!("c{customer}@x");
            client
                .execute(
                    "INSERT INTO orders (id, customer_email, amount, customer_id) VALUES ($1, $2, 2, $3)",
                    &[&id, &email, &customer],
                )
                .unwrap();
            record.lock().unwrap().insert(id, Some((email, 2)));
            // Moves one of the odd base orders, writing both shapes.
            let moved = (n % 500) * 2 + 1;
            let customer = (n + 5) % CUSTOMERS + 1;
            let email = format!("c{customer}@x");
            client
                .execute(
                    "UPDATE orders SET customer_email = $2, customer_id = $3 WHERE id = $1",
                    &[&moved, &email, &customer],
                )
                .unwrap();
            record.lock().unwrap().insert(moved, Some((email, moved as i32)));
        },
    );
    run_phases_under_load(&db, &AddCustomerFk, vec![old_version, new_version]);

    let mut client = db.connect();
    assert_eq!(foreign_keys(&mut client).len(), 1);
    assert!(column(&mut client, "orders", "customer_id").unwrap().not_null);
    assert_eq!(
        wrong_customer_ids(&mut client, "customer_id"),
        0,
        "id and email agree in every row"
    );
    let written = written.lock().unwrap();
    assert!(
        written.keys().any(|id| *id >= 1_000_000)
            && written.keys().any(|id| (100_000..1_000_000).contains(id))
    );
    for (id, expected) in written.iter() {
        let row = client
            .query_opt("SELECT customer_email, amount FROM orders WHERE id = $1", &[id])
            .unwrap()
            .map(|row| (row.get::<_, String>(0), row.get::<_, i32>(1)));
        assert_eq!(&row, expected, "order {id}");
    }
}

/// A faulty writer that slips an orphan past the foreign key right after the NOT VALID
/// constraint is added (replica mode skips the constraint's triggers), so that the
/// validation fails.
fn sneak_an_orphan_after_not_valid(client: &mut Client) {
    client
        .batch_execute(
            "CREATE FUNCTION sneak_orphan() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'orders_customer_id_fkey')
                  AND NOT EXISTS (SELECT 1 FROM orders WHERE id = 7777) THEN
                 SET LOCAL session_replication_role = replica;
                 INSERT INTO orders (id, customer_email, amount, customer_id) VALUES (7777, 'gone@x', 1, 424242);
                 SET LOCAL session_replication_role = origin;
               END IF;
             END $$;
             CREATE EVENT TRIGGER sneak_orphan ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
               EXECUTE FUNCTION sneak_orphan();",
        )
        .unwrap();
}

#[test]
fn not_valid_and_validate_commit_separately() {
    let db = TestDb::new("add_foreign_key_not_valid_apart");
    let mut client = shop(&db, 300);
    let mut runner = db.runner();
    runner.run_to(&AddCustomerFk, Phase::Backfill).unwrap();
    // If NOT VALID and VALIDATE shared a transaction, the failed validation would roll the
    // constraint back.
    sneak_an_orphan_after_not_valid(&mut client);
    let error = runner.run(&AddCustomerFk, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("step \"validate \"orders_customer_id_fkey\" while reads and writes go on")
            && message.contains("violates foreign key constraint \"orders_customer_id_fkey\"")
            && message.contains("Key (customer_id)=(424242) is not present in table \"customers\""),
        "{message}"
    );
    assert_eq!(
        foreign_keys(&mut client),
        [(
            "orders_customer_id_fkey".to_owned(),
            false,
            "FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE NOT VALID".to_owned()
        )],
        "the NOT VALID constraint committed on its own and stays, not validated"
    );
    assert!(!column(&mut client, "orders", "customer_id").unwrap().not_null);

    // Once the orphan is dealt with, the contract resumes at the validation.
    client
        .batch_execute("DROP EVENT TRIGGER sneak_orphan; DELETE FROM orders WHERE id = 7777;")
        .unwrap();
    runner.run(&AddCustomerFk, Phase::Contract).unwrap();
    assert!(foreign_keys(&mut client)[0].1, "validated");
    assert!(column(&mut client, "orders", "customer_id").unwrap().not_null);
}

#[test]
fn a_contract_stopped_after_not_valid_reverts_cleanly() {
    let db = TestDb::new("add_foreign_key_partial_contract_revert");
    let mut client = shop(&db, 300);
    let mut runner = db.runner();
    runner.run_to(&AddCustomerFk, Phase::Backfill).unwrap();
    let before = snapshot(&mut client);
    sneak_an_orphan_after_not_valid(&mut client);
    runner.run(&AddCustomerFk, Phase::Contract).unwrap_err();
    client
        .batch_execute(
            "DROP EVENT TRIGGER sneak_orphan; DROP FUNCTION sneak_orphan(); DELETE FROM orders WHERE id = 7777;",
        )
        .unwrap();
    runner.revert(&AddCustomerFk, Phase::Contract).unwrap();
    assert_eq!(snapshot(&mut client), before);
    assert_eq!(
        runner.state(&AddCustomerFk).unwrap().completed,
        Some(Phase::Backfill)
    );
}

#[test]
fn set_not_null_is_proven_by_the_validated_check_without_a_scan() {
    let db = TestDb::new("add_foreign_key_no_bare_set_not_null");
    shop(&db, 300);
    let (mut runner, notices) = db.runner_with_notices();
    runner.run_to(&AddCustomerFk, Phase::Backfill).unwrap();
    notices.lock().unwrap().clear();
    runner.run(&AddCustomerFk, Phase::Contract).unwrap();
    let notices = notices.lock().unwrap();
    let proven = notices
        .iter()
        .position(|notice| proves_not_null(notice, "orders", "customer_id"))
        .unwrap_or_else(|| panic!("SET NOT NULL scanned the table: {notices:#?}"));
    // The only scans are the two validations, the foreign key's and the check's, both
    // before SET NOT NULL; a SET NOT NULL that scanned would verify the table once more.
    let scans = notices
        .iter()
        .enumerate()
        .filter(|(_, notice)| {
            notice.as_str() == "verifying table \"orders\""
                || notice.as_str() == "validating foreign key constraint \"orders_customer_id_fkey\""
        })
        .map(|(at, _)| at)
        .collect::<Vec<_>>();
    assert_eq!(scans.len(), 2, "{notices:#?}");
    assert!(scans.iter().all(|at| *at < proven), "{notices:#?}");
}

#[test]
fn nulls_left_refuse_the_contract_before_any_change() {
    let db = TestDb::new("add_foreign_key_nulls_refused");
    let mut client = shop(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&AddCustomerFk, Phase::Backfill).unwrap();
    // The new version clears two ids on purpose, which the trigger respects.
    client
        .batch_execute("UPDATE orders SET customer_id = NULL WHERE id IN (3, 4)")
        .unwrap();
    let before = snapshot(&mut client);
    let error = runner.run(&AddCustomerFk, Phase::Contract).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 2, .. }), "{message}");
    assert!(
        message.contains("expected no NULL in \"orders\".\"customer_id\""),
        "{message}"
    );
    assert!(message.contains("(3,c4@x,3,,)"), "{message}");
    assert_eq!(
        snapshot(&mut client),
        before,
        "no constraint, no bare SET NOT NULL"
    );
}

#[test]
fn orphans_refuse_the_contract_with_samples_and_nothing_changes() {
    let db = TestDb::new("add_foreign_key_orphans");
    let mut client = shop(&db, 100);
    let mut runner = db.runner();
    runner.run_to(&AddCustomerFk, Phase::Backfill).unwrap();
    client
        .batch_execute("UPDATE orders SET customer_id = 31337 WHERE id = 12")
        .unwrap();
    let before = snapshot(&mut client);
    let error = runner.run(&AddCustomerFk, Phase::Contract).unwrap_err();
    assert_eq!(
        error.to_string(),
        "fk_customer: contract refused before any lock-heavy step: expected every non-NULL \"orders\".\"customer_id\" \
         present in \"customers\".\"id\", found 1 offending row(s); for example:\n  (12,c13@x,12,13,31337)"
    );
    assert_eq!(snapshot(&mut client), before);
    // Fixed by hand, the contract resumes; reverting it instead would be fine too.
    client
        .batch_execute("UPDATE orders SET customer_id = 13 WHERE id = 12")
        .unwrap();
    runner.run(&AddCustomerFk, Phase::Contract).unwrap();
}

#[test]
fn a_target_postgresql_would_refuse_is_drift_and_nothing_changes() {
    let refused = |name: &str, migration: &dyn Migration, setup: &str| -> String {
        let db = TestDb::new(&format!("add_foreign_key_drift_{name}"));
        let mut client = shop(&db, 10);
        client.batch_execute(setup).unwrap();
        let orders = |client: &mut Client| {
            (
                checksum(client, "orders"),
                columns(client, "orders"),
                indexes(client, "orders"),
                constraints(client, "orders"),
            )
        };
        let before = orders(&mut client);
        let error = db.runner().run(migration, Phase::Expand).unwrap_err();
        assert!(matches!(error, Error::Drift { .. }), "{error}");
        assert_eq!(orders(&mut client), before, "{name}");
        error.to_string()
    };
    assert_eq!(
        refused("no_unique", &AddCustomerCode, ""),
        "fk_code: the database does not match the declaration: expected a primary key or unique constraint on \
         exactly \"customers\".\"code\", which a foreign key must reference, found none, so PostgreSQL would refuse \
         the foreign key; add a unique constraint on it first (or reference the primary key); nothing was changed"
    );
    assert!(refused("no_table", &AddCustomerFk, "DROP TABLE customers")
        .contains("expected table \"customers\" for the foreign key to reference, found no such table"));
    assert!(refused("no_column", &AddCustomerRef, "").contains(
        "expected column \"customers\".\"reference\" for the foreign key to reference, found no such column"
    ));
    assert!(refused("text", &AddCustomerText, "").contains(
        "expected \"orders\".\"customer_text\" of a type comparable with \"customers\".\"id\" (bigint), found type \
         text, which PostgreSQL cannot compare with it in a foreign key"
    ));
    assert!(refused(
        "column_there",
        &AddCustomerFk,
        "ALTER TABLE orders ADD COLUMN customer_id bigint"
    )
    .contains("expected no column \"customer_id\" in \"orders\", found that column already there"));
    assert!(refused(
        "no_legacy",
        &LinkLegacyCustomer,
        "ALTER TABLE orders DROP COLUMN legacy_customer_id"
    )
    .contains("expected column \"orders\".\"legacy_customer_id\" of type bigint, found no such column"));
    assert!(refused(
        "legacy_not_null",
        &FillLegacyCustomer,
        "UPDATE orders SET legacy_customer_id = 1 WHERE legacy_customer_id IS NULL;
         ALTER TABLE orders ALTER COLUMN legacy_customer_id SET NOT NULL"
    )
    .contains("expected a nullable column \"orders\".\"legacy_customer_id\", found it is already NOT NULL"));
    assert!(refused(
        "name_taken",
        &LinkLegacyCustomer,
        "ALTER TABLE orders ADD CONSTRAINT orders_legacy_customer_id_fkey CHECK (amount > 0)"
    )
    .contains(
        "expected no constraint \"orders_legacy_customer_id_fkey\" on \"orders\", found one already there: CHECK ((amount > 0))"
    ));
}

#[test]
fn compatible_types_and_unique_targets_are_accepted() {
    let db = TestDb::new("add_foreign_key_compatible");
    let mut client = shop(&db, 50);
    client
        .batch_execute("ALTER TABLE customers ADD CONSTRAINT customers_code_key UNIQUE (code)")
        .unwrap();
    let mut runner = db.runner();
    for migration in [&AddCustomerInt as &dyn Migration, &AddCustomerCode] {
        runner.run_to(migration, Phase::Contract).unwrap();
    }
    let mut keys = foreign_keys(&mut client);
    keys.sort();
    assert_eq!(
        keys,
        [
            (
                "orders_customer_code_fkey".to_owned(),
                true,
                "FOREIGN KEY (customer_code) REFERENCES customers(code)".to_owned()
            ),
            (
                "orders_customer_int_fkey".to_owned(),
                true,
                "FOREIGN KEY (customer_int) REFERENCES customers(id)".to_owned()
            ),
        ]
    );
}
