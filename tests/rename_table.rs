//! `rename_table` end to end against a real PostgreSQL: the table takes its new name and a
//! plain view under the old one serves the old version, reads and writes alike (no rules:
//! the seed's `SET * = NEW.*` is not even SQL), with the table's owner, grants and row
//! security; every reversal restores the old name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase};
use zdm_suite::{
    checksum, columns, constraints, db_error, functions, indexes, run_phases_under_load, scalar,
    server_version_num, trigger_definitions, TestDb, Writer,
};

/// Customers become clients.
#[zero_downtime(id = "rename_customers", rename_table(from = "customers", to = "clients"))]
struct RenameCustomers;

fn customers(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (
                 id bigserial PRIMARY KEY,
                 name text NOT NULL,
                 email text,
                 status text NOT NULL DEFAULT 'new',
                 created_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE INDEX customers_email_idx ON customers (email);
             CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers);
             INSERT INTO customers (name, email, created_at)
                 SELECT 'customer ' || g, 'c' || g || '@example.com', '2026-01-01'::timestamptz + g * interval '1 hour'
                 FROM generate_series(1, {rows}) g;
             INSERT INTO orders SELECT g, g FROM generate_series(1, least({rows}, 10)) g;"
        ))
        .unwrap();
    client
}

/// `r` (table), `v` (view) or None.
fn kind(client: &mut Client, name: &str) -> Option<String> {
    client
        .query_opt(
            "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&zdm_runtime::quote_ident(name)],
        )
        .unwrap()
        .map(|row| row.get(0))
}

/// Everything a reversal must restore: what each name is, the columns under the old
/// name, the table's indexes, constraints and triggers under whichever name it has, the
/// functions and the views.
fn catalog(client: &mut Client) -> String {
    let table = if kind(client, "clients").as_deref() == Some("r") {
        "clients"
    } else {
        "customers"
    };
    format!(
        "customers: {:?}, clients: {:?}\ncolumns: {:?}\nindexes of {table}: {:?}\nconstraints: {:?}\ntriggers: {:?}\nfunctions: {:?}\nviews: {:?}",
        kind(client, "customers"),
        kind(client, "clients"),
        columns(client, "customers"),
        indexes(client, table),
        constraints(client, table),
        trigger_definitions(client, table),
        functions(client),
        client
            .query(
                "SELECT c.relname::text, c.reloptions, pg_get_userbyid(c.relowner)::text FROM pg_class c \
                 WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
                &[]
            )
            .unwrap()
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, Option<Vec<String>>>(1), row.get::<_, String>(2)))
            .collect::<Vec<_>>(),
    )
}

/// What the server prints for a view defined as `query`, read from a temporary view in a
/// transaction that is rolled back.
fn deparsed_view(client: &mut Client, query: &str) -> String {
    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute(&format!("CREATE TEMPORARY VIEW zdm_expected AS {query}"))
        .unwrap();
    let definition = transaction
        .query_one("SELECT pg_get_viewdef('zdm_expected')", &[])
        .unwrap()
        .get(0);
    transaction.rollback().unwrap();
    definition
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("rename_table_full_cycle");
    let mut client = customers(&db, 500);
    let before = checksum(&mut client, "customers");
    let columns_before = columns(&mut client, "customers");
    let mut runner = db.runner();

    runner.run(&RenameCustomers, Phase::Expand).unwrap();
    assert_eq!(kind(&mut client, "clients").as_deref(), Some("r"));
    assert_eq!(kind(&mut client, "customers").as_deref(), Some("v"));
    assert_eq!(
        columns(&mut client, "clients"),
        columns_before,
        "the table itself is untouched"
    );
    let view_columns: Vec<String> = columns(&mut client, "customers")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(view_columns, ["id", "name", "email", "status", "created_at"]);
    // Every column of the table and nothing else, as the server prints such a view (from 16
    // on without the `clients.` qualifiers).
    assert_eq!(
        scalar::<String>(&mut client, "SELECT pg_get_viewdef('customers')"),
        deparsed_view(
            &mut client,
            "SELECT id, name, email, status, created_at FROM clients"
        )
    );
    // Auto-updatable, without a single rule.
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT is_insertable_into || is_updatable || is_trigger_insertable_into FROM information_schema.views \
             WHERE table_name = 'customers'"
        ),
        "YESYESNO"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM pg_rules WHERE tablename = 'customers'"
        ),
        0
    );
    assert_eq!(
        scalar::<Option<Vec<String>>>(
            &mut client,
            "SELECT reloptions FROM pg_class WHERE relname = 'customers'"
        ),
        None,
        "no row-level security on the table: the view reads it with the owner's rights"
    );
    // Indexes, constraints and the sequence keep their names; the foreign key follows the
    // table, which it names by oid.
    assert_eq!(
        indexes(&mut client, "clients")
            .iter()
            .map(|(name, ..)| name.as_str())
            .collect::<Vec<_>>(),
        ["customers_email_idx", "customers_pkey"]
    );
    assert_eq!(
        zdm_suite::column(&mut client, "clients", "id")
            .unwrap()
            .default
            .as_deref(),
        Some("nextval('customers_id_seq'::regclass)")
    );
    assert!(constraints(&mut client, "orders")
        .iter()
        .any(|(_, kind, _, definition)| kind == "f"
            && definition == "FOREIGN KEY (customer_id) REFERENCES clients(id)"));
    assert_eq!(
        checksum(&mut client, "customers"),
        before,
        "the old name reads every row"
    );
    assert_eq!(checksum(&mut client, "clients"), before);

    let after_expand = catalog(&mut client);
    for phase in [Phase::Sync, Phase::Backfill] {
        let report = runner.run(&RenameCustomers, phase).unwrap();
        assert!(report.steps.is_empty(), "{phase}: {report}");
        assert_eq!(catalog(&mut client), after_expand, "after {phase}");
    }

    runner.run(&RenameCustomers, Phase::Contract).unwrap();
    assert_eq!(kind(&mut client, "customers"), None, "the view is gone");
    assert_eq!(kind(&mut client, "clients").as_deref(), Some("r"));
    assert_eq!(checksum(&mut client, "clients"), before);
    let state = runner.state(&RenameCustomers).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Contract), None));
}

#[test]
fn the_old_name_takes_writes_through_the_view_without_rules() {
    let db = TestDb::new("rename_table_writes_through_view");
    let mut client = customers(&db, 20);
    let mut runner = db.runner();
    runner.run(&RenameCustomers, Phase::Expand).unwrap();

    // The seed's update rule is not even valid SQL.
    let seed_rule = client.batch_execute(
        "CREATE OR REPLACE RULE old_table_update AS ON UPDATE TO customers \
         DO INSTEAD UPDATE clients SET * = NEW.* WHERE id = OLD.id",
    );
    assert_eq!(
        seed_rule.unwrap_err().code(),
        Some(&postgres::error::SqlState::SYNTAX_ERROR)
    );

    // An INSERT that leaves columns out gets the table's defaults: the serial id from the
    // table's sequence, the status, the timestamp. RETURNING works through the view.
    let row = client
        .query_one(
            "INSERT INTO customers (name) VALUES ('through the view') RETURNING id, status, created_at IS NOT NULL",
            &[],
        )
        .unwrap();
    let (id, status, stamped): (i64, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((id, status.as_str(), stamped), (21, "new", true));
    assert_eq!(
        scalar::<String>(&mut client, "SELECT name FROM clients WHERE id = 21"),
        "through the view"
    );
    let updated: String = client
        .query_one(
            "UPDATE customers SET email = 'moved@example.com' WHERE id = 3 RETURNING email",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(updated, "moved@example.com");
    assert_eq!(
        scalar::<String>(&mut client, "SELECT email FROM clients WHERE id = 3"),
        "moved@example.com"
    );
    let upserted: String = client
        .query_one(
            "INSERT INTO customers (id, name) VALUES (3, 'upserted') \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING name",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(upserted, "upserted");
    client
        .execute("DELETE FROM orders WHERE customer_id = 4", &[])
        .unwrap();
    assert_eq!(
        client.execute("DELETE FROM customers WHERE id = 4", &[]).unwrap(),
        1
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM clients WHERE id = 4"),
        0
    );
    // Constraints of the table hold through the view.
    let violation = client.execute("INSERT INTO customers (email) VALUES ('no name')", &[]);
    assert_eq!(
        violation.unwrap_err().code(),
        Some(&postgres::error::SqlState::NOT_NULL_VIOLATION)
    );
    // The new version's writes are visible under the old name (the failed insert used 22).
    client
        .execute("INSERT INTO clients (name) VALUES ('through the table')", &[])
        .unwrap();
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT id FROM customers WHERE name = 'through the table'"
        ),
        23
    );
    assert_eq!(
        checksum(&mut client, "customers"),
        checksum(&mut client, "clients")
    );
}

#[test]
fn columns_added_after_expand_are_not_in_the_view_until_it_is_recreated() {
    let db = TestDb::new("rename_table_select_star");
    let mut client = customers(&db, 10);
    let mut runner = db.runner();
    runner.run_to(&RenameCustomers, Phase::Backfill).unwrap();
    // `SELECT *` was expanded when the view was created.
    client
        .batch_execute("ALTER TABLE clients ADD COLUMN note text DEFAULT 'none'")
        .unwrap();
    assert!(zdm_suite::column(&mut client, "customers", "note").is_none());
    client
        .execute("INSERT INTO customers (name) VALUES ('old version')", &[])
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT note FROM clients WHERE name = 'old version'"),
        "none",
        "the table's default fills the column the view does not show"
    );
    runner.run(&RenameCustomers, Phase::Contract).unwrap();
    runner.revert(&RenameCustomers, Phase::Contract).unwrap();
    assert!(
        zdm_suite::column(&mut client, "customers", "note").is_some(),
        "re-created with it"
    );
}

#[test]
fn each_reversal_restores_the_old_name_exactly() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("rename_table_revert_{phase}"));
        let mut client = customers(&db, 300);
        let mut runner = db.runner();
        if let Some(previous) = phase.previous() {
            runner.run_to(&RenameCustomers, previous).unwrap();
        }
        let before = (checksum(&mut client, "customers"), catalog(&mut client));
        runner.run(&RenameCustomers, phase).unwrap();
        runner.revert(&RenameCustomers, phase).unwrap();
        assert_eq!(
            (checksum(&mut client, "customers"), catalog(&mut client)),
            before,
            "after reverting {phase}"
        );
        assert_eq!(
            runner.state(&RenameCustomers).unwrap().completed,
            phase.previous()
        );
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    let db = TestDb::new("rename_table_revert_all");
    let mut client = customers(&db, 200);
    let before = (checksum(&mut client, "customers"), catalog(&mut client));
    let mut runner = db.runner();
    runner.run_to(&RenameCustomers, Phase::Contract).unwrap();
    // The new version wrote while the old name was gone: the reversal keeps its rows.
    client
        .execute("INSERT INTO clients (name) VALUES ('new version')", &[])
        .unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&RenameCustomers, phase).unwrap();
    }
    assert_eq!(kind(&mut client, "customers").as_deref(), Some("r"));
    assert_eq!(kind(&mut client, "clients"), None);
    client
        .execute("DELETE FROM customers WHERE name = 'new version'", &[])
        .unwrap();
    assert_eq!((checksum(&mut client, "customers"), catalog(&mut client)), before);
    assert_eq!(runner.state(&RenameCustomers).unwrap().completed, None);
}

/// Runs `sql` (returning one bigint) as `role`.
fn as_role(client: &mut Client, role: &str, sql: &str) -> Result<i64, postgres::Error> {
    client.batch_execute(&format!("SET ROLE {role}"))?;
    let outcome = client.query_one(sql, &[]).map(|row| row.get(0));
    client.batch_execute("RESET ROLE")?;
    outcome
}

fn create_roles(client: &mut Client, roles: &[&str]) {
    for role in roles {
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role}"))
            .unwrap();
    }
}

fn drop_roles(client: &mut Client, roles: &[&str]) {
    client.batch_execute("DROP TABLE orders").unwrap();
    for role in roles {
        client
            .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
            .unwrap();
    }
}

#[test]
fn the_view_keeps_the_owner_and_the_grants_of_the_table() {
    let db = TestDb::new("rename_table_grants");
    let mut client = customers(&db, 30);
    let [owner, app, reporter] = [
        "zdm_rename_table_grants_owner",
        "zdm_rename_table_grants_app",
        "zdm_rename_table_grants_reporter",
    ];
    create_roles(&mut client, &[owner, app, reporter]);
    client
        .batch_execute(&format!(
            "ALTER TABLE customers OWNER TO {owner};
             GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO {app};
             GRANT USAGE ON SEQUENCE customers_id_seq TO {app};
             GRANT SELECT (id, name) ON customers TO {reporter};"
        ))
        .unwrap();

    // The runner connects as a superuser; the view must belong to the table's owner.
    let mut runner = db.runner();
    runner.run(&RenameCustomers, Phase::Expand).unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'customers'"
        ),
        owner
    );
    assert_eq!(
        as_role(&mut client, app, "SELECT count(*) FROM customers").unwrap(),
        30
    );
    assert_eq!(
        as_role(
            &mut client,
            app,
            "WITH i AS (INSERT INTO customers (name) VALUES ('app') RETURNING id) SELECT count(*) FROM i"
        )
        .unwrap(),
        1
    );
    assert_eq!(
        as_role(
            &mut client,
            app,
            "WITH d AS (DELETE FROM customers WHERE name = 'app' RETURNING id) SELECT count(*) FROM d"
        )
        .unwrap(),
        1
    );
    assert_eq!(
        as_role(&mut client, reporter, "SELECT count(name) FROM customers").unwrap(),
        30
    );
    let denied = as_role(&mut client, reporter, "SELECT count(email) FROM customers");
    assert_eq!(
        denied.unwrap_err().code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "column grants are copied as column grants"
    );
    client.batch_execute("RESET ROLE").unwrap();

    runner.run_to(&RenameCustomers, Phase::Contract).unwrap();
    runner.revert(&RenameCustomers, Phase::Contract).unwrap();
    assert_eq!(
        as_role(&mut client, app, "SELECT count(*) FROM customers").unwrap(),
        30,
        "re-created alike"
    );
    assert_eq!(
        as_role(&mut client, reporter, "SELECT count(name) FROM customers").unwrap(),
        30
    );
    drop_roles(&mut client, &[owner, app, reporter]);
}

/// From PostgreSQL 15 on; before, zdm refuses such a table (see
/// `row_security_is_refused_before_15`).
#[test]
fn over_a_table_with_row_security_the_view_checks_the_querying_role() {
    let db = TestDb::new("rename_table_row_security");
    let mut client = customers(&db, 30);
    let [app, reporter] = ["zdm_rename_table_rls_app", "zdm_rename_table_rls_reporter"];
    create_roles(&mut client, &[app, reporter]);
    client
        .batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO {app};
             GRANT USAGE ON SEQUENCE customers_id_seq TO {app};
             GRANT SELECT (id, name) ON customers TO {reporter};
             UPDATE customers SET status = 'hidden' WHERE id <= 10;
             ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
             CREATE POLICY visible ON customers TO {app}, {reporter} USING (status <> 'hidden');"
        ))
        .unwrap();
    assert_eq!(
        as_role(&mut client, app, "SELECT count(*) FROM customers").unwrap(),
        20
    );
    assert_eq!(
        as_role(&mut client, reporter, "SELECT count(name) FROM customers").unwrap(),
        20
    );

    let mut runner = db.runner();
    if server_version_num(&mut client) < 150_000 {
        row_security_is_refused_before_15(&mut client, &mut runner, app);
        drop_roles(&mut client, &[app, reporter]);
        return;
    }
    runner.run(&RenameCustomers, Phase::Expand).unwrap();
    assert_eq!(
        scalar::<Vec<String>>(
            &mut client,
            "SELECT reloptions FROM pg_class WHERE relname = 'customers'"
        ),
        ["security_invoker=true"]
    );
    // The view's owner (here a superuser) is exempt from the policies; the app is not.
    assert_eq!(
        as_role(&mut client, app, "SELECT count(*) FROM customers").unwrap(),
        20,
        "the policy applies through the view"
    );
    assert_eq!(
        as_role(
            &mut client,
            app,
            "WITH u AS (UPDATE customers SET name = 'seen' RETURNING id) SELECT count(*) FROM u"
        )
        .unwrap(),
        20,
        "hidden rows stay out of reach"
    );
    // Documented limit: a security_invoker view needs the querying role's SELECT on every
    // column it selects, so a role with column grants only cannot read through it.
    let limited = as_role(&mut client, reporter, "SELECT count(name) FROM customers");
    assert_eq!(
        limited.unwrap_err().code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    client.batch_execute("RESET ROLE").unwrap();
    assert_eq!(
        as_role(&mut client, reporter, "SELECT count(name) FROM clients").unwrap(),
        20
    );
    drop_roles(&mut client, &[app, reporter]);
}

/// Before PostgreSQL 15 a view has no `security_invoker`: it would read the table with its
/// owner's rights, past the policies, so expand refuses in the step that creates it, and
/// the rename goes back with it: the table keeps its name and its policy.
fn row_security_is_refused_before_15(client: &mut Client, runner: &mut zdm_runtime::Runner, app: &str) {
    let before = catalog(client);
    let error = runner.run(&RenameCustomers, Phase::Expand).unwrap_err();
    let step = "rename \"customers\" to \"clients\" and create the view \"customers\" over it";
    let refusal = "the table has row-level security, which a view bypasses before PostgreSQL 15";
    assert!(
        matches!(&error, Error::Step { step: failed, .. } if failed == step),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("rename_customers: step \"{step}\" failed: {refusal}")),
        "{error}"
    );
    let server = db_error(&error).unwrap_or_else(|| panic!("not raised by the server: {error}"));
    assert_eq!(
        server.code(),
        &postgres::error::SqlState::RAISE_EXCEPTION,
        "{error}"
    );
    assert_eq!(server.message(), refusal);
    assert_eq!(catalog(client), before, "nothing changed");
    assert_eq!(
        as_role(client, app, "SELECT count(*) FROM customers").unwrap(),
        20,
        "the policy still applies"
    );
    runner.revert(&RenameCustomers, Phase::Expand).unwrap();
    assert_eq!(catalog(client), before);
    assert_eq!(runner.state(&RenameCustomers).unwrap().completed, None);
}

#[test]
fn drift_before_expand_is_refused_and_nothing_changes() {
    let db = TestDb::new("rename_table_drift");
    let mut client = customers(&db, 10);
    client.batch_execute("CREATE TABLE clients (id int)").unwrap();
    let before = catalog(&mut client);
    let mut runner = db.runner();
    let error = runner.run(&RenameCustomers, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rename_customers: the database does not match the declaration: expected no relation named \"clients\", \
         found a table of that name; nothing was changed"
    );
    // Refused before any change, expand leaves both tables alone and no state behind.
    assert_eq!(runner.state(&RenameCustomers).unwrap(), Default::default());
    assert_eq!(catalog(&mut client), before);

    let db = TestDb::new("rename_table_drift_view");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE people (id int); CREATE VIEW customers AS SELECT * FROM people")
        .unwrap();
    let error = db.runner().run(&RenameCustomers, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected table \"customers\", found a view"),
        "{error}"
    );
}

#[test]
fn contract_drops_only_the_view_it_created() {
    let db = TestDb::new("rename_table_contract_drift");
    let mut client = customers(&db, 10);
    let mut runner = db.runner();
    runner.run_to(&RenameCustomers, Phase::Backfill).unwrap();
    // Someone replaced the stand-in with a view of their own.
    client
        .batch_execute(
            "CREATE TABLE archive (id bigint); DROP VIEW customers; \
             CREATE VIEW customers AS SELECT c.id FROM clients c JOIN archive a USING (id)",
        )
        .unwrap();
    let error = runner.run(&RenameCustomers, Phase::Contract).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rename_customers: the database does not match the declaration: expected \"customers\" to be the view \
         over \"clients\" that zdm created, or gone, found a view of that name reading archive, clients; nothing \
         was changed"
    );
    assert_eq!(kind(&mut client, "customers").as_deref(), Some("v"));
    // And if it is gone already, the contract has nothing left to do.
    client.batch_execute("DROP VIEW customers").unwrap();
    runner.run(&RenameCustomers, Phase::Contract).unwrap();
    assert_eq!(
        runner.state(&RenameCustomers).unwrap().completed,
        Some(Phase::Contract)
    );
}

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("rename_table_mixed_versions");
    let mut client = customers(&db, 400);
    // The name each row should have at the end, None once deleted. Each version writes
    // its own rows (and its own half of the seed rows) from one thread, so the last value
    // recorded is the last value committed.
    let expected: Arc<Mutex<BTreeMap<i64, Option<String>>>> = Arc::default();

    let writer = |name: &'static str,
                  phases: std::ops::RangeInclusive<Phase>,
                  table: &'static str,
                  other: &'static str,
                  tag: &'static str,
                  parity: i64| {
        let expected = Arc::clone(&expected);
        Writer::new(name, phases, move |client, phase, n| {
            let name = format!("{tag} {n}");
            let id: i64 = client
                .query_one(
                    &format!("INSERT INTO {table} (name) VALUES ($1) RETURNING id"),
                    &[&name],
                )
                .unwrap()
                .get(0);
            let seed = (n % 200) * 2 + parity;
            let renamed = format!("{tag} renamed {n}");
            client
                .execute(
                    &format!("UPDATE {table} SET name = $1 WHERE id = $2"),
                    &[&renamed, &seed],
                )
                .unwrap();
            let mut written = expected.lock().unwrap();
            written.insert(id, Some(name));
            written.insert(seed, Some(renamed));
            if n % 3 == 0 {
                client
                    .execute(&format!("DELETE FROM {table} WHERE id = $1"), &[&id])
                    .unwrap();
                written.insert(id, None);
            } else if matches!(phase, Phase::Sync | Phase::Backfill) {
                // Between expand and contract both names exist: the write shows under the other.
                let seen: i64 = client
                    .query_one(&format!("SELECT count(*) FROM {other} WHERE id = $1"), &[&id])
                    .unwrap()
                    .get(0);
                assert_eq!(
                    seen, 1,
                    "row {id} written through {table} is visible through {other}"
                );
            }
        })
    };
    // The old version writes through the old name until contract starts; the new one
    // through the new name once expand has created it.
    let old_version = writer(
        "old version",
        Phase::Expand..=Phase::Backfill,
        "customers",
        "clients",
        "old",
        1,
    );
    let new_version = writer(
        "new version",
        Phase::Sync..=Phase::Contract,
        "clients",
        "customers",
        "new",
        2,
    );
    run_phases_under_load(&db, &RenameCustomers, vec![old_version, new_version]);

    assert_eq!(kind(&mut client, "customers"), None);
    let expected = expected.lock().unwrap();
    assert!(expected.values().flatten().any(|name| name.starts_with("old ")));
    assert!(expected.values().flatten().any(|name| name.starts_with("new ")));
    for (id, name) in expected.iter() {
        let found: Option<String> = client
            .query_opt("SELECT name FROM clients WHERE id = $1", &[id])
            .unwrap()
            .map(|row| row.get(0));
        assert_eq!(&found, name, "row {id}");
    }
    let unexpected: i64 = client
        .query_one(
            "SELECT count(*) FROM clients WHERE id > 400 AND NOT (id = ANY($1))",
            &[&expected.keys().copied().collect::<Vec<i64>>()],
        )
        .unwrap()
        .get(0);
    assert_eq!(unexpected, 0, "no row appeared that no version wrote");
    assert!(matches!(
        db.runner().run(&RenameCustomers, Phase::Contract),
        Err(Error::PhaseOrder { .. })
    ));
}
