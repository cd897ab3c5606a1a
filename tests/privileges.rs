//! Least privilege: every operation's full cycle and every reversal, run by roles that own
//! their tables and hold nothing else of note: no superuser, no CREATEDB, no CREATE on the
//! database, the state schema made for them by an administrator. What each operation needs
//! beyond that is read from the README's table, granted, and taken away again one privilege
//! at a time, so the README can claim neither too little nor too much.

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Migration, Options, Phase, Runner};
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
    id = "least_add_column_plain",
    add_column(table = "items", column = "flag", ty = "boolean", default = "false", not_null)
)]
struct AddColumnPlain;

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

#[zero_downtime(
    id = "least_add_not_null_plain",
    add_not_null(table = "items", column = "tag")
)]
struct AddNotNullPlain;

#[zero_downtime(id = "least_rename_table", rename_table(from = "items", to = "articles"))]
struct RenameTable;

#[zero_downtime(
    id = "least_split_table",
    split_table(
        table = "items",
        into(table = "item_labels", columns = ["label"]),
        into(table = "item_notes", columns = ["note", "id_text", "tag"])
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

#[zero_downtime(id = "least_drop_index", drop_index(table = "items", index = "items_label"))]
struct DropIndex;

#[zero_downtime(
    id = "least_drop_primary_key",
    drop_constraint(table = "items", constraint = "items_pkey")
)]
struct DropPrimaryKey;

#[zero_downtime(
    id = "least_rename_index",
    rename_index(table = "items", from = "items_label", to = "items_by_label")
)]
struct RenameIndex;

#[zero_downtime(
    id = "least_rename_constraint",
    rename_constraint(table = "items", from = "items_pkey", to = "items_key")
)]
struct RenameConstraint;

#[zero_downtime(id = "least_drop_not_null", drop_not_null(table = "items", column = "label"))]
struct DropNotNull;

#[zero_downtime(
    id = "least_set_default",
    set_default(table = "items", column = "tag", default = "'none'")
)]
struct SetDefault;

#[zero_downtime(
    id = "least_set_replica_identity",
    set_replica_identity(table = "items", identity = "full")
)]
struct SetReplicaIdentity;
#[zero_downtime(
    id = "least_add_check",
    add_check(
        table = "items",
        name = "items_label_short",
        check = "length(label) < 8",
        fix_column = "label",
        fix = "left(label, 7)"
    )
)]
struct AddCheck;

#[zero_downtime(
    id = "least_add_check_plain",
    add_check(table = "items", name = "items_id_positive", check = "id > 0")
)]
struct AddCheckPlain;

#[zero_downtime(id = "least_add_unique", add_unique(table = "items", columns = ["id_text"]))]
struct AddUnique;

#[zero_downtime(id = "least_add_primary_key", add_primary_key(table = "tags", columns = ["name"]))]
struct AddPrimaryKey;

#[zero_downtime(id = "least_create_enum", create_enum(name = "mood", values = ["sad", "ok"]))]
struct CreateEnum;

#[zero_downtime(id = "least_add_enum_value", add_enum_value(name = "shade", value = "grey"))]
struct AddEnumValue;

#[zero_downtime(
    id = "least_create_table",
    create_table(
        table = "item_owners",
        column(name = "id", ty = "bigint"),
        column(name = "owner_id", ty = "bigint", references = "owners"),
        primary_key = "id"
    )
)]
struct CreateTable;

#[zero_downtime(id = "least_drop_table", drop_table(table = "items"))]
struct DropTable;

#[zero_downtime(
    id = "least_drop_column",
    drop_column(table = "items", column = "id_text", down = "id::text")
)]
struct DropColumn;

#[zero_downtime(id = "least_drop_column_plain", drop_column(table = "items", column = "tag"))]
struct DropColumnPlain;

#[zero_downtime(
    id = "least_sql",
    sql(
        up = "ALTER TABLE items ADD COLUMN flag boolean",
        down = "ALTER TABLE items DROP COLUMN flag"
    )
)]
struct Sql;

/// The declaration each row of the README's table is proven with, by the row's first cell.
fn declaration(operation: &str) -> Option<&'static dyn Migration> {
    Some(match operation {
        "`add_column` with `backfill` or `index`" => &AddColumn,
        "`add_column` otherwise" => &AddColumnPlain,
        "`add_foreign_key`" => &AddForeignKey,
        "`add_index`" => &AddIndex,
        "`add_not_null` with `backfill`" => &AddNotNull,
        "`add_not_null` otherwise" => &AddNotNullPlain,
        "`rename_column`" => &RenameColumn,
        "`change_type`" => &ChangeType,
        "`rename_table`" => &RenameTable,
        "`split_table`" => &SplitTable,
        "`drop_index`" => &DropIndex,
        "`drop_constraint` of a UNIQUE or PRIMARY KEY constraint" => &DropPrimaryKey,
        "`rename_index`" => &RenameIndex,
        "`rename_constraint`" => &RenameConstraint,
        "`drop_not_null`" => &DropNotNull,
        "`set_default`" => &SetDefault,
        "`set_replica_identity`" => &SetReplicaIdentity,
        "`add_check` with `fix`" => &AddCheck,
        "`add_check` otherwise" => &AddCheckPlain,
        "`add_unique`" => &AddUnique,
        "`add_primary_key`" => &AddPrimaryKey,
        "`create_enum`" => &CreateEnum,
        "`add_enum_value`" => &AddEnumValue,
        "`create_table` (here with a foreign key to a table of another owner)" => &CreateTable,
        "`drop_table`" => &DropTable,
        "`drop_column` with `down`" => &DropColumn,
        "`drop_column` otherwise" => &DropColumnPlain,
        "`sql` (here an `ADD COLUMN`)" => &Sql,
        _ => return None,
    })
}

/// The state schema of these tests: not zdm's default, so that a `zdm` left anywhere shows.
const STATE: &str = "ops_state";

const TABLES: &str = "
    CREATE TABLE owners (id bigint PRIMARY KEY, name text);
    INSERT INTO owners SELECT g, 'owner ' || g FROM generate_series(1, 20) g;
    CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, note text, id_text text NOT NULL, tag text);
    CREATE INDEX items_label ON items (label);
    INSERT INTO items SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, g::text,
        'tag ' || g
    FROM generate_series(1, 300) g;
    CREATE TABLE tags (name text NOT NULL);
    INSERT INTO tags SELECT 'tag ' || g FROM generate_series(1, 30) g;
    CREATE TYPE shade AS ENUM ('dark', 'light');";

/// One privilege a row of the README's table grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Privilege {
    /// `CREATE` on the tables' schema.
    CreateOnSchema,
    /// `TEMPORARY` on the database.
    Temporary,
    /// A privilege on the table a foreign key references, which the role does not own.
    OnReferenced(&'static str),
}

/// A row of the README's "### Privileges" table.
#[derive(Debug)]
struct Row {
    operation: String,
    privileges: Vec<Privilege>,
}

/// The rows of the privileges table in the README, as the user reads them.
fn readme_rows() -> Vec<Row> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n### Privileges\n")
        .nth(1)
        .expect("the README has a Privileges section");
    let section = section.split("\n## ").next().unwrap();
    let mut lines = section.lines().filter(|line| line.starts_with('|'));
    let header = lines.next().expect("the section has a table");
    assert_eq!(
        header,
        "| operation | `CREATE` on the table's schema | `TEMPORARY` on the database | on the referenced table |"
    );
    lines
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "{line}");
            let mut privileges = Vec::new();
            for (cell, privilege) in [
                (cells[1], Privilege::CreateOnSchema),
                (cells[2], Privilege::Temporary),
            ] {
                match cell.split_whitespace().next() {
                    Some("yes") => privileges.push(privilege),
                    Some("no") => {}
                    _ => panic!("a cell says yes or no: {line}"),
                }
            }
            for name in cells[3].split(',').map(str::trim).filter(|name| !name.is_empty()) {
                privileges.push(Privilege::OnReferenced(match name {
                    "`REFERENCES`" => "REFERENCES",
                    "`SELECT`" => "SELECT",
                    other => panic!("unknown privilege {other} in: {line}"),
                }));
            }
            Row {
                operation: cells[0].to_owned(),
                privileges,
            }
        })
        .collect()
}

/// A fresh database where `role` owns `items`, may connect and use the schema `public`, and
/// holds `privileges`; no CREATE on the database, no state schema. `owners` is the
/// administrator's. A failed run's database goes first, with the privileges that kept the
/// role from being dropped.
fn restricted_database(name: &str, role: &str, privileges: &[Privilege]) -> TestDb {
    let db = TestDb::new(name);
    let mut admin = zdm_suite::connect_or_exit(&zdm_runtime::database_url());
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role};
             CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
             REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT ON DATABASE \"{db}\" TO {role};",
            db = db.name()
        ))
        .unwrap();
    let mut owner = db.connect();
    owner
        .batch_execute(&format!(
            "{TABLES}
             REVOKE ALL ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA public TO {role};
             ALTER TABLE items OWNER TO {role};
             ALTER TABLE tags OWNER TO {role};
             ALTER TYPE shade OWNER TO {role};"
        ))
        .unwrap();
    for privilege in privileges {
        let grant = match privilege {
            Privilege::CreateOnSchema => format!("GRANT CREATE ON SCHEMA public TO {role}"),
            Privilege::Temporary => format!("GRANT TEMPORARY ON DATABASE \"{}\" TO {role}", db.name()),
            Privilege::OnReferenced(name) => format!("GRANT {name} ON owners TO {role}"),
        };
        owner.batch_execute(&grant).unwrap();
    }
    db
}

/// Has an administrator make the state schema `schema` for `role`.
fn make_state_schema(db: &TestDb, schema: &str, role: &str) {
    db.connect()
        .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {role}"))
        .unwrap();
}

/// Has an administrator make `migration`'s version schema for `role`, if it has one: the
/// role holds no CREATE on the database, as the README's Privileges section says.
fn make_version_schema(db: &TestDb, migration: &dyn Migration, role: &str) {
    if !migration.plan().presents.is_empty() {
        make_state_schema(db, &zdm_plan::names::version_schema(migration.id()), role);
    }
}

fn options(schema: &str) -> Options {
    Options {
        state_schema: schema.to_owned(),
        ..test_options()
    }
}

/// Every phase and every reversal of `migration`, as `runner`'s role.
fn cycle(runner: &mut Runner, migration: &dyn Migration) -> Result<(), Error> {
    runner.run_to(migration, Phase::Contract)?;
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(migration, phase)?;
    }
    Ok(())
}

/// The SQLSTATE of the server's error behind `error`.
fn sqlstate(error: &Error) -> Option<SqlState> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(code) = cause
            .downcast_ref::<postgres::Error>()
            .and_then(postgres::Error::code)
        {
            return Some(code.clone());
        }
        source = cause.source();
    }
    None
}

/// Asserts what the restricted roles never hold: superuser, CREATEDB, CREATE on the database.
fn assert_unprivileged(client: &mut Client) {
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolcreatedb, has_database_privilege(current_database(), 'CREATE') \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .unwrap();
    let held: (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        held,
        (false, false, false),
        "superuser, CREATEDB, CREATE on the database"
    );
}

/// Runs `row`'s declaration through every phase and reversal as a role holding exactly the
/// row's privileges, then, for each of them, as a role holding all of them but that one.
fn prove_row(number: usize, row: &Row) {
    let migration = declaration(&row.operation)
        .unwrap_or_else(|| panic!("no declaration proves the README's row {}", row.operation));
    let role = format!("zdm_least_{number}");
    let db = restricted_database(&format!("least_privilege_{number}"), &role, &row.privileges);
    make_state_schema(&db, STATE, &role);
    make_version_schema(&db, migration, &role);
    let mut admin = db.connect();
    let before = (
        table_catalog(&mut admin, "items"),
        table_catalog(&mut admin, "owners"),
    );
    let mut client = db.connect_as(&role);
    assert_unprivileged(&mut client);
    let mut runner = Runner::new(client, options(STATE)).unwrap();
    cycle(&mut runner, migration).unwrap_or_else(|error| panic!("{}: {error}", row.operation));
    assert_eq!(
        (
            table_catalog(&mut admin, "items"),
            table_catalog(&mut admin, "owners")
        ),
        before,
        "{}: the reversals restore the tables",
        row.operation
    );
    let state_tables: Vec<String> = admin
        .query(
            "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = to_regnamespace($1) \
             AND c.relkind = 'r' AND pg_get_userbyid(c.relowner) = $2 ORDER BY 1",
            &[&STATE, &role],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        ["migrations", "pins"]
            .iter()
            .all(|table| state_tables.iter().any(|owned| owned == table)),
        "{}: the state tables are the role's, in {STATE}: {state_tables:?}",
        row.operation
    );
    assert!(
        scalar::<bool>(&mut admin, "SELECT to_regnamespace('zdm') IS NULL"),
        "{}: nothing made a zdm schema",
        row.operation
    );
    drop(runner);
    fails_without_each_privilege(number, row, migration);
}

/// Runs `row`'s declaration, for each privilege the row lists, as a role holding all of
/// them but that one: the run must fail for want of it.
fn fails_without_each_privilege(number: usize, row: &Row, migration: &dyn Migration) {
    for (index, withheld) in row.privileges.iter().enumerate() {
        let fewer: Vec<Privilege> = row.privileges.iter().copied().filter(|p| p != withheld).collect();
        let role = format!("zdm_least_{number}_{index}");
        let db = restricted_database(
            &format!("least_privilege_{number}_without_{index}"),
            &role,
            &fewer,
        );
        make_state_schema(&db, STATE, &role);
        make_version_schema(&db, migration, &role);
        let mut runner = Runner::new(db.connect_as(&role), options(STATE)).unwrap();
        let error = cycle(&mut runner, migration).err().unwrap_or_else(|| {
            panic!(
                "{}: ran without {withheld:?}, which the README lists",
                row.operation
            )
        });
        assert_eq!(
            sqlstate(&error),
            Some(SqlState::INSUFFICIENT_PRIVILEGE),
            "{}: without {withheld:?}: {error}",
            row.operation
        );
    }
}

#[test]
fn every_operation_needs_exactly_the_privileges_the_readme_lists() {
    let rows = readme_rows();
    let operations: Vec<&str> = rows.iter().map(|row| row.operation.as_str()).collect();
    assert_eq!(rows.len(), 28, "{operations:?}");
    std::thread::scope(|scope| {
        for (number, row) in rows.iter().enumerate() {
            scope.spawn(move || prove_row(number, row));
        }
    });
}

/// The relations in the schema `schema`, by name.
fn relations_in(client: &mut Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = to_regnamespace(quote_ident($1)) \
             AND relkind = 'r' ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[test]
fn without_a_configured_schema_the_state_is_in_zdm_as_before() {
    const ROLE: &str = "zdm_least_default";
    let db = restricted_database("least_privilege_default", ROLE, &[Privilege::CreateOnSchema]);
    let refused = Runner::new(db.connect_as(ROLE), test_options())
        .err()
        .expect("refused");
    assert!(matches!(&refused, Error::StateSchema { .. }), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "zdm cannot set up its state schema: the schema \"zdm\" does not exist, and this role may not create \
         schemas in the database; have an administrator run CREATE SCHEMA \"zdm\" AUTHORIZATION <this role>"
    );
    let mut admin = db.connect();
    assert!(scalar::<bool>(
        &mut admin,
        "SELECT to_regnamespace('zdm') IS NULL"
    ));

    make_state_schema(&db, "zdm", ROLE);
    let mut runner = Runner::new(db.connect_as(ROLE), test_options()).unwrap();
    runner.run_to(&AddNotNull, Phase::Backfill).unwrap();
    assert_eq!(
        relations_in(&mut admin, "zdm"),
        ["least_add_not_null_filled", "migrations", "pins"]
    );
    let completed: String = scalar(
        &mut admin,
        "SELECT completed FROM zdm.migrations WHERE id = 'least_add_not_null'",
    );
    assert_eq!(completed, "backfill");
    let filled: i64 = scalar(
        &mut admin,
        "SELECT count(*) FROM zdm.least_add_not_null_filled, unnest(zdm_keys)",
    );
    assert_eq!(filled, 100, "every third of the 300 rows had no note");
    for phase in [Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&AddNotNull, phase).unwrap();
    }
    assert_eq!(relations_in(&mut admin, "zdm"), ["migrations", "pins"]);
    assert!(scalar::<bool>(
        &mut admin,
        "SELECT count(*) = 100 FROM items WHERE note IS NULL"
    ));
}

#[test]
fn a_configured_state_schema_holds_every_state_table_and_zdm_is_never_made() {
    // A name that needs quoting: every statement on the state names it quoted.
    const SCHEMA: &str = "Ops State";
    let db = TestDb::new("state_schema_every_table");
    let mut admin = db.connect();
    admin.batch_execute(TABLES).unwrap();
    let mut runner = Runner::connect(db.url(), options(SCHEMA)).unwrap();
    assert_eq!(relations_in(&mut admin, SCHEMA), ["migrations", "pins"]);

    runner.run_to(&AddNotNull, Phase::Backfill).unwrap();
    let filled: i64 = scalar(
        &mut admin,
        "SELECT count(*) FROM \"Ops State\".least_add_not_null_filled, unnest(zdm_keys)",
    );
    assert_eq!(filled, 100);
    for phase in [Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&AddNotNull, phase).unwrap();
    }
    runner.run_to(&ChangeType, Phase::Expand).unwrap();
    let carried: String = scalar(
        &mut admin,
        "SELECT old_type FROM \"Ops State\".carried_columns WHERE migration = 'least_change_type'",
    );
    assert_eq!(carried, "text");
    runner.revert(&ChangeType, Phase::Expand).unwrap();
    runner.run_to(&SplitTable, Phase::Contract).unwrap();
    let source: String = scalar(
        &mut admin,
        "SELECT source FROM \"Ops State\".split_snapshots WHERE migration = 'least_split_table'",
    );
    assert_eq!(source, "public.items");
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&SplitTable, phase).unwrap();
    }
    assert_eq!(
        relations_in(&mut admin, SCHEMA),
        [
            "carried_columns",
            "carried_objects",
            "migrations",
            "pins",
            "split_snapshots",
            "version_columns"
        ]
    );
    let states: Vec<(String, Option<String>)> = admin
        .query(
            "SELECT id, completed FROM \"Ops State\".migrations ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        states,
        [
            ("least_add_not_null".to_owned(), None),
            ("least_change_type".to_owned(), None),
            ("least_split_table".to_owned(), None)
        ]
    );
    assert!(scalar::<bool>(
        &mut admin,
        "SELECT to_regnamespace('zdm') IS NULL"
    ));
}

/// The refusal of a runner connecting as `role` with the state schema [`STATE`], which must
/// be a state schema error caused by a missing privilege.
fn refused_for_privilege(db: &TestDb, role: &str) -> Error {
    let refused = Runner::new(db.connect_as(role), options(STATE))
        .err()
        .expect("refused");
    let Error::StateSchema {
        source: Some(source), ..
    } = &refused
    else {
        panic!("{refused:?}");
    };
    assert_eq!(source.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    refused
}

#[test]
fn a_configured_state_schema_that_is_missing_and_cannot_be_made_is_refused_by_name() {
    const ROLE: &str = "zdm_least_missing";
    let db = restricted_database("least_privilege_missing_schema", ROLE, &[]);
    let refused = refused_for_privilege(&db, ROLE);
    assert_eq!(
        refused.to_string(),
        "zdm cannot set up its state schema: the schema \"ops_state\" does not exist, and this role may not \
         create schemas in the database; have an administrator run CREATE SCHEMA \"ops_state\" AUTHORIZATION \
         <this role>"
    );
    let mut admin = db.connect();
    assert!(scalar::<bool>(
        &mut admin,
        "SELECT to_regnamespace('ops_state') IS NULL AND to_regnamespace('zdm') IS NULL"
    ));
}

#[test]
fn a_role_that_may_not_create_in_the_state_schema_is_told_what_to_grant() {
    const ROLE: &str = "zdm_least_no_grant";
    let db = restricted_database("least_privilege_schema_not_granted", ROLE, &[]);
    db.connect()
        .batch_execute(&format!("CREATE SCHEMA {STATE}"))
        .unwrap();
    let refused = refused_for_privilege(&db, ROLE);
    assert_eq!(
        refused.to_string(),
        "zdm cannot set up its state schema: this role may not create tables in the schema \"ops_state\"; \
         grant it USAGE and CREATE on the schema, or make it the schema's owner"
    );
    let mut admin = db.connect();
    assert_eq!(relations_in(&mut admin, STATE), Vec::<String>::new());
}

#[test]
fn a_state_schema_name_postgres_would_not_keep_is_refused_before_any_change() {
    let db = TestDb::new("state_schema_bad_name");
    let long = "s".repeat(64);
    for (name, reason) in [
        ("", "the configured state schema name \"\" is 0 bytes long"),
        (
            long.as_str(),
            "the configured state schema name \"ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss\" \
             is 64 bytes long",
        ),
    ] {
        let refused = Runner::connect(db.url(), options(name))
            .err()
            .expect("refused");
        assert!(
            matches!(&refused, Error::StateSchema { source: None, .. }),
            "{refused:?}"
        );
        assert_eq!(
            refused.to_string(),
            format!(
                "zdm cannot set up its state schema: {reason}; PostgreSQL names are 1 to 63 bytes"
            )
        );
    }
    assert_eq!(
        scalar::<i64>(
            &mut db.connect(),
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('zdm', repeat('s', 63))"
        ),
        0
    );
}

#[zero_downtime(
    id = "state_placeholder_keys",
    add_not_null(table = "tagged", column = "note", backfill = "'none'")
)]
struct FillTagged;

#[test]
fn a_key_value_that_spells_a_placeholder_is_data_not_the_state_schema() {
    let db = TestDb::new("state_schema_placeholder_keys");
    let mut admin = db.connect();
    admin
        .batch_execute(
            "CREATE TABLE tagged (id text COLLATE \"C\" PRIMARY KEY, note text);
             INSERT INTO tagged (id) VALUES ('a'), ('b'), ('z'), ('{key}'), ('{range}'), ('{state}'), ('{state}x');",
        )
        .unwrap();
    // One row per batch: every key, `{state}` included, is a batch's bound, written as a
    // literal; a schema name with a quote in it would end that literal early.
    let mut runner = Runner::connect(
        db.url(),
        Options {
            batch: zdm_runtime::BatchSize::Fixed(1),
            ..options("it's state")
        },
    )
    .unwrap();
    runner.run_to(&FillTagged, Phase::Backfill).unwrap();
    let unfilled: Vec<String> = admin
        .query("SELECT id FROM tagged WHERE note IS NULL ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(unfilled, Vec::<String>::new());
    let recorded: i64 = scalar(
        &mut admin,
        "SELECT count(*) FROM \"it's state\".state_placeholder_keys_filled, unnest(zdm_keys)",
    );
    assert_eq!(recorded, 7);
    runner.revert(&FillTagged, Phase::Backfill).unwrap();
    assert!(scalar::<bool>(
        &mut admin,
        "SELECT count(*) = 7 FROM tagged WHERE note IS NULL"
    ));
}
