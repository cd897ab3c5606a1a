//! Least privilege: every operation's full cycle and every reversal, run by a role that owns
//! its tables and holds nothing else of note: no superuser, no CREATEDB, no CREATE on the
//! database. An administrator made the state schema for it; the role has CREATE on the
//! schema its tables live in, which the operations that add triggers, views or tables need.

use std::str::FromStr;

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use zdm_runtime::{zero_downtime, Error, Migration, Phase, Runner};
use zdm_suite::{scalar, table_catalog, test_options, TestDb};

#[zero_downtime(
    id = "least_add_column",
    add_column(
        table = "items",
        column = "code",
        ty = "text",
        backfill = "upper(label)",
        not_null,
        index
    )
)]
struct AddColumn;

#[zero_downtime(
    id = "least_add_foreign_key",
    add_foreign_key(
        table = "items",
        column = "owner_id",
        ty = "bigint",
        references = "owners",
        backfill = "(id % 20) + 1",
        not_null
    )
)]
struct AddForeignKey;

#[zero_downtime(
    id = "least_add_index",
    add_index(table = "items", columns = ["label", "id"], unique, where = "id > 10")
)]
struct AddIndex;

#[zero_downtime(
    id = "least_add_not_null",
    add_not_null(table = "items", column = "note", backfill = "'none'")
)]
struct AddNotNull;

#[zero_downtime(id = "least_rename_table", rename_table(from = "items", to = "articles"))]
struct RenameTable;

#[zero_downtime(
    id = "least_split_table",
    split_table(
        table = "items",
        into(table = "item_labels", columns = ["label"]),
        into(table = "item_notes", columns = ["note", "id_text"])
    )
)]
struct SplitTable;

#[zero_downtime(
    id = "least_rename_column",
    rename_column(table = "items", from = "label", to = "title")
)]
struct RenameColumn;

#[zero_downtime(
    id = "least_change_type",
    change_type(
        table = "items",
        column = "id_text",
        to = "bigint",
        up = "id_text::bigint",
        down = "id_text::text"
    )
)]
struct ChangeType;

/// The roles the tests run as: roles belong to the whole cluster, so each test has its own.
const ROLE: &str = "zdm_least_privilege";
const ROLE_WITHOUT_GRANT: &str = "zdm_least_privilege_no_grant";

const TABLES: &str = "
    CREATE TABLE owners (id bigint PRIMARY KEY, name text);
    INSERT INTO owners SELECT g, 'owner ' || g FROM generate_series(1, 20) g;
    CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, note text, id_text text NOT NULL);
    CREATE INDEX items_label ON items (label);
    INSERT INTO items SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, g::text
    FROM generate_series(1, 300) g;";

/// A connection to `db` as `role` (the test server trusts local connections).
fn connect_as(db: &TestDb, role: &str) -> Client {
    let mut config = postgres::Config::from_str(db.url()).expect("the test database URL parses");
    config.user(role);
    config.connect(NoTls).expect("connecting as the restricted role")
}

/// A database whose tables belong to `role`, made afresh: it may connect and use temporary
/// tables, create objects in `public`, and nothing else. A failed run's database goes first,
/// with the privileges that kept the role from being dropped.
fn restricted_database(name: &str, role: &str) -> (TestDb, Client) {
    let db = TestDb::new(name);
    let mut admin = zdm_suite::connect_or_exit(&zdm_runtime::database_url());
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role};
             CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
             REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT, TEMPORARY ON DATABASE \"{db}\" TO {role};",
            db = db.name()
        ))
        .unwrap();
    let mut owner = db.connect();
    owner
        .batch_execute(&format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"))
        .unwrap();
    let mut client = connect_as(&db, role);
    client.batch_execute(TABLES).unwrap();
    (db, client)
}

fn patterns() -> Vec<(&'static str, &'static dyn Migration)> {
    vec![
        ("add_column", &AddColumn),
        ("rename_column", &RenameColumn),
        ("change_type", &ChangeType),
        ("add_foreign_key", &AddForeignKey),
        ("add_index", &AddIndex),
        ("add_not_null", &AddNotNull),
        ("rename_table", &RenameTable),
        ("split_table", &SplitTable),
    ]
}

#[test]
fn every_operation_runs_and_reverts_as_a_role_without_create_on_the_database() {
    let (db, mut client) = restricted_database("least_privilege_cycle", ROLE);
    let privileges: (bool, bool, bool) = {
        let row = client
            .query_one(
                "SELECT r.rolsuper, r.rolcreatedb, has_database_privilege(current_database(), 'CREATE') \
                 FROM pg_roles r WHERE r.rolname = current_user",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!(
        privileges,
        (false, false, false),
        "superuser, CREATEDB, CREATE on the database"
    );

    // Without the schema, the runner says what it needs, and creates nothing.
    let refused = Runner::new(connect_as(&db, ROLE), test_options())
        .err()
        .expect("refused");
    assert!(matches!(&refused, Error::StateSchema { .. }), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "zdm cannot set up its state schema: the schema \"zdm\" does not exist, and this role may not create \
         schemas in the database; have an administrator run CREATE SCHEMA \"zdm\" AUTHORIZATION <this role>"
    );
    assert!(scalar::<bool>(
        &mut client,
        "SELECT to_regnamespace('zdm') IS NULL"
    ));

    db.connect()
        .batch_execute(&format!("CREATE SCHEMA zdm AUTHORIZATION {ROLE}"))
        .unwrap();
    let mut runner = Runner::new(connect_as(&db, ROLE), test_options()).unwrap();
    let before = (
        table_catalog(&mut client, "items"),
        table_catalog(&mut client, "owners"),
    );
    for (name, migration) in patterns() {
        let reports = runner
            .run_to(migration, Phase::Contract)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(reports.len(), 4, "{name}: every phase ran");
        for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
            runner
                .revert(migration, phase)
                .unwrap_or_else(|error| panic!("{name}: reverting {phase}: {error}"));
        }
        assert_eq!(
            (
                table_catalog(&mut client, "items"),
                table_catalog(&mut client, "owners")
            ),
            before,
            "{name}: the reversals restore the tables"
        );
    }
    let owner: String = scalar(
        &mut client,
        "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'zdm.migrations'::regclass",
    );
    assert_eq!(owner, ROLE, "the state table is the role's own");
}

#[test]
fn a_role_that_may_not_create_in_the_state_schema_is_told_what_to_grant() {
    let (db, _client) = restricted_database("least_privilege_schema_not_granted", ROLE_WITHOUT_GRANT);
    db.connect().batch_execute("CREATE SCHEMA zdm").unwrap();
    let refused = Runner::new(connect_as(&db, ROLE_WITHOUT_GRANT), test_options())
        .err()
        .expect("refused");
    let Error::StateSchema { source, .. } = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(source.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(
        refused.to_string(),
        "zdm cannot set up its state schema: this role may not create tables in the schema \"zdm\"; grant it \
         USAGE and CREATE on the schema, or make it the schema's owner"
    );
}
