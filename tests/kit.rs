//! The test kit's failure modes (`zdm_runtime::testing`), each with its exact message: a
//! failed step names the migration, phase and step with the server's error; a refusal, the
//! phase; a failing schema or setup, the server's error; a lock file that disagrees with a
//! declaration stops the rehearsal before any database is made. The kit's success, and its
//! refusal of a reversal that loses rows, are tested by the example application
//! (`examples/app/tests/`), which uses it as an application would.

use postgres::error::SqlState;
use zdm_runtime::testing::{FreshDatabase, Rehearsal, RehearsalError};
use zdm_runtime::{zero_downtime, Direction, Migration, Phase};
use zdm_suite::{connect_or_exit, database_url, scalar};

/// An index on a function that does not exist: the server refuses the build.
#[zero_downtime(
    id = "kit_missing_function",
    add_index(table = "kit_demo", expression = "no_such_function(id)")
)]
struct MissingFunction;

/// A column for `kit_demo`.
#[zero_downtime(
    id = "kit_add_note",
    add_column(table = "kit_demo", column = "note", ty = "text")
)]
struct AddNote;

/// The same id as [`AddNote`], declared differently: what a changed declaration looks like.
#[zero_downtime(
    id = "kit_add_note",
    add_column(table = "kit_demo", column = "note", ty = "varchar(80)")
)]
struct AddNoteChanged;

const SCHEMA: &str = "CREATE TABLE kit_demo (id bigint PRIMARY KEY); INSERT INTO kit_demo VALUES (1), (2);";

fn database_exists(name: &str) -> bool {
    let mut admin = connect_or_exit(&database_url());
    scalar(
        &mut admin,
        &format!(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = {})",
            zdm_runtime::quote_literal(name)
        ),
    )
}

/// Removes a database a failed rehearsal kept for inspection.
fn drop_kept(name: &str) {
    drop(FreshDatabase::create(name).unwrap());
}

#[test]
fn a_failed_step_names_the_migration_phase_and_step_with_the_servers_error() {
    let failure = Rehearsal::new("kit_failed_step")
        .schema(SCHEMA)
        .run(&[&MissingFunction])
        .unwrap_err();
    let step = "build index \"kit_demo_no_such_function_id_idx\" concurrently";
    let RehearsalError::Phase {
        migration,
        phase,
        direction,
        step: Some(failed_step),
        source,
    } = &failure
    else {
        panic!("{failure}");
    };
    assert_eq!(
        (migration.as_str(), *phase, *direction, failed_step.as_str()),
        ("kit_missing_function", Phase::Expand, Direction::Forward, step)
    );
    assert_eq!(zdm_suite::sqlstate(source), Some(&SqlState::UNDEFINED_FUNCTION));
    let server = zdm_suite::db_error(source).unwrap().message().to_owned();
    assert!(
        failure.to_string().starts_with(&format!(
            "rehearsal of kit_missing_function: run expand: kit_missing_function: step \"{step}\" failed: \
             {server} (SQLSTATE 42883)\n"
        )),
        "{failure}"
    );
    // Kept for inspection, with the phase stopped where it failed.
    assert!(database_exists("zdm_kit_failed_step"));
    drop_kept("kit_failed_step");
}

#[test]
fn a_refused_phase_is_named_with_the_refusal() {
    let failure = Rehearsal::new("kit_refused")
        .schema("CREATE TABLE kit_demo (id bigint PRIMARY KEY, note text)")
        .run(&[&AddNote])
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "rehearsal of kit_add_note: run expand: kit_add_note: the database does not match the declaration: \
         expected no column \"note\" in \"kit_demo\", found that column already there, of type text; nothing was \
         changed"
    );
    assert!(
        matches!(failure, RehearsalError::Phase { step: None, .. }),
        "{failure:?}"
    );
    drop_kept("kit_refused");
}

#[test]
fn a_failing_schema_or_setup_gives_the_servers_error() {
    let failure = Rehearsal::new("kit_bad_schema")
        .schema("CREATE TABLE kit_demo (id bigint PRIMARY KEY); INSERT INTO kit_nope VALUES (1);")
        .run(&[&AddNote])
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "the rehearsal's schema SQL failed: relation \"kit_nope\" does not exist (SQLSTATE 42P01)\n  \
         at character 60 of the statement"
    );
    let failure = Rehearsal::new("kit_bad_setup")
        .schema(SCHEMA)
        .setup(|client| client.batch_execute("INSERT INTO kit_demo VALUES (1)"))
        .run(&[&AddNote])
        .unwrap_err();
    let RehearsalError::Setup { what, reason } = &failure else {
        panic!("{failure}");
    };
    assert_eq!(*what, "setup closure");
    assert!(reason.contains("(SQLSTATE 23505)"), "{reason}");
    drop_kept("kit_bad_schema");
    drop_kept("kit_bad_setup");
}

#[test]
fn a_rehearsal_that_passes_runs_the_setup_after_the_schema_and_drops_its_database() {
    let mut seen = None;
    Rehearsal::new("kit_passes")
        .schema(SCHEMA)
        .setup(|client| {
            seen = Some(
                client
                    .query_one("SELECT count(*) FROM kit_demo", &[])?
                    .get::<_, i64>(0),
            );
            Ok(())
        })
        .run(&[&AddNote])
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(seen, Some(2), "the setup closure runs after the schema SQL");
    assert!(!database_exists("zdm_kit_passes"));
}

fn lock_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("zdm-kit-{name}-{}.lock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn the_lock_file_records_each_rehearsed_migration_and_refuses_a_changed_declaration() {
    let path = lock_path("changed");
    Rehearsal::new("kit_lock")
        .schema(SCHEMA)
        .lock_file(&path)
        .run(&[&AddNote])
        .unwrap_or_else(|failure| panic!("{failure}"));
    let recorded = std::fs::read_to_string(&path).unwrap();
    let checksum = AddNote.plan().checksum();
    assert!(
        recorded.ends_with(&format!("\nkit_add_note {checksum}\n")),
        "{recorded}"
    );

    let failure = Rehearsal::new("kit_lock_changed")
        .schema(SCHEMA)
        .lock_file(&path)
        .run(&[&AddNoteChanged])
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        format!(
            "kit_add_note: the declaration changed after {} recorded its plan checksum ({checksum} recorded, \
             {} compiled); a migration that has started anywhere must keep its declaration: restore it and \
             declare the change as a new migration with a new id (a migration that never left your branch may \
             change: delete its line)",
            path.display(),
            AddNoteChanged.plan().checksum()
        )
    );
    // Refused before anything ran: no database, and the file as it was.
    assert!(!database_exists("zdm_kit_lock_changed"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), recorded);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_lock_file_line_that_is_no_entry_is_refused_before_anything_runs() {
    let path = lock_path("malformed");
    std::fs::write(&path, "# a comment\nkit_add_note 12345\n").unwrap();
    let failure = Rehearsal::new("kit_lock_malformed")
        .schema(SCHEMA)
        .lock_file(&path)
        .run(&[&AddNote])
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        format!(
            "cannot use the lock file {}: line 2 is not a migration id and a 16-digit plan checksum: \
             `kit_add_note 12345`",
            path.display()
        )
    );
    assert!(!database_exists("zdm_kit_lock_malformed"));
    std::fs::remove_file(&path).unwrap();
}

mod every_operation {
    //! One declaration of each operation, rehearsed in sequence on tables with rows: the
    //! kit's check of each reversal holds for every operation zdm carries out.
    use zdm_runtime::zero_downtime;

    #[zero_downtime(
        id = "kit_all_01_add_column",
        add_column(
            table = "people",
            column = "email_lower",
            ty = "text",
            backfill = "lower(email)",
            not_null,
            index
        )
    )]
    pub struct AddColumn;

    #[zero_downtime(
        id = "kit_all_02_rename_column",
        rename_column(table = "people", from = "name", to = "full_name")
    )]
    pub struct RenameColumn;

    #[zero_downtime(
        id = "kit_all_03_change_type",
        change_type(table = "people", column = "score", to = "bigint")
    )]
    pub struct ChangeType;

    #[zero_downtime(
        id = "kit_all_04_add_not_null",
        add_not_null(table = "people", column = "city", backfill = "'unknown'")
    )]
    pub struct AddNotNull;

    #[zero_downtime(id = "kit_all_05_add_index", add_index(table = "people", columns = ["city"]))]
    pub struct AddIndex;

    #[zero_downtime(
        id = "kit_all_06_add_foreign_key",
        add_foreign_key(table = "pets", column = "owner_id", references = "people", existing_column)
    )]
    pub struct AddForeignKey;

    #[zero_downtime(
        id = "kit_all_07_split_table",
        split_table(
            table = "pets",
            key = "id",
            into(table = "pet_names", columns = ["pet_name"]),
            into(table = "pet_owners", columns = ["owner_id"])
        )
    )]
    pub struct SplitTable;

    #[zero_downtime(id = "kit_all_08_rename_table", rename_table(from = "people", to = "persons"))]
    pub struct RenameTable;

    zdm_runtime::migrations!(pub static ALL = [
        AddColumn, RenameColumn, ChangeType, AddNotNull, AddIndex, AddForeignKey, SplitTable, RenameTable
    ]);

    pub const SCHEMA: &str = "
        CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL, name text, score integer, city text);
        INSERT INTO people SELECT g, 'P' || g || '@Example.COM', 'person ' || g, g * 3,
                                  CASE WHEN g % 3 = 0 THEN NULL ELSE 'city ' || g % 7 END
                             FROM generate_series(1, 300) g;
        CREATE TABLE pets (id bigint PRIMARY KEY, pet_name text, owner_id bigint);
        INSERT INTO pets SELECT g, 'pet ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 300 END
                           FROM generate_series(1, 200) g;";
}

#[test]
fn every_operation_rehearses_without_a_difference() {
    Rehearsal::new("kit_every_operation")
        .schema(every_operation::SCHEMA)
        .run(every_operation::ALL)
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn a_fresh_database_names_what_kept_it_from_being_made() {
    let failure = FreshDatabase::create_on("postgres://postgres@127.0.0.1:1/postgres", "kit_no_server")
        .err()
        .expect("no server listens on port 1");
    assert!(matches!(failure, RehearsalError::Connect(_)), "{failure:?}");
    assert!(
        failure
            .to_string()
            .starts_with("cannot connect to PostgreSQL at "),
        "{failure}"
    );

    // A role without CREATEDB, on the tests' server.
    let role = "zdm_kit_no_createdb";
    let mut admin = connect_or_exit(&database_url());
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN NOCREATEDB"
        ))
        .unwrap();
    let config: postgres::Config = database_url().parse().unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the tests' server is reached over TCP, not {other:?}"),
    };
    let url = format!(
        "host={host} port={} user={role} dbname=postgres",
        config.get_ports().first().copied().unwrap_or(5432)
    );
    let failure = FreshDatabase::create_on(&url, "kit_no_createdb")
        .err()
        .expect("the role may not create databases");
    let RehearsalError::Database { name, reason } = &failure else {
        panic!("{failure}");
    };
    assert_eq!(name, "zdm_kit_no_createdb");
    assert!(reason.ends_with("(SQLSTATE 42501)"), "{reason}");
    assert_eq!(
        failure.to_string(),
        format!("cannot create the database zdm_kit_no_createdb: {reason}")
    );
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
}
