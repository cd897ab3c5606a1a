//! What zdm says when the server refuses: the SQLSTATE and everything PostgreSQL adds, the
//! statement with the failing position marked, and for connections, where and how zdm
//! tried and whether a server answered at all.

use postgres::error::SqlState;
use zdm_runtime::{zero_downtime, Action, Error, Migration, Options, Phase, Runner};
use zdm_suite::{database_url, TestDb};

/// An index on a function that does not exist: the runtime, not the macro, finds out.
#[zero_downtime(
    id = "errors_missing_function",
    add_index(table = "errors_demo", expression = "no_such_function(id)")
)]
struct MissingFunction;

#[test]
fn a_failed_statement_is_shown_with_the_position_marked() {
    let db = TestDb::new("errors_statement");
    db.connect()
        .batch_execute("CREATE TABLE errors_demo (id bigint PRIMARY KEY)")
        .unwrap();
    let error = db.runner().run(&MissingFunction, Phase::Expand).unwrap_err();
    let Error::Step { source, message, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(source.code(), Some(&SqlState::UNDEFINED_FUNCTION));
    let server = source.as_db_error().unwrap();
    assert!(
        message.starts_with(&format!("{} (SQLSTATE 42883)\n  hint: ", server.message())),
        "{message}"
    );
    let statement = MissingFunction
        .plan()
        .phase(Phase::Expand)
        .forward
        .iter()
        .find_map(|step| match &step.action {
            Action::CreateIndexConcurrently { sql, .. } => Some(sql.to_string()),
            _ => None,
        })
        .unwrap();
    // PostgreSQL points at the call, not at the index name that contains the same words.
    let column = statement.find("((no_such_function").unwrap() + 2;
    assert!(
        message.ends_with(&format!(
            "\n  statement: {statement}\n             {}^",
            " ".repeat(column)
        )),
        "{message}"
    );
    assert!(
        error.to_string().starts_with(
            "errors_missing_function: step \"build index \"errors_demo_no_such_function_id_idx\" \
             concurrently\" failed: "
        ),
        "{error}"
    );
}

#[test]
fn a_server_that_refuses_the_connection_was_reached() {
    let url = database_url();
    let config: postgres::Config = url.parse().unwrap();
    let missing = "zdm_errors_no_such_database";
    let mut config_missing = config.clone();
    config_missing.dbname(missing);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => panic!("the tests connect over TCP"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let error = zdm_runtime::connect(&format!("host={host} port={port} user={user} dbname={missing}"))
        .err()
        .expect("no such database");
    let Error::Connect { source, reached, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(source.code(), Some(&SqlState::INVALID_CATALOG_NAME));
    assert!(reached);
    // No advice to point DATABASE_URL at a reachable server: this one answered.
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to PostgreSQL at {host}:{port}/{missing} (sslmode=prefer): {} (SQLSTATE 3D000)",
            source.as_db_error().unwrap().message()
        )
    );

    let error = zdm_runtime::connect("postgres://postgres@127.0.0.1:1/none")
        .err()
        .unwrap();
    assert!(matches!(error, Error::Connect { reached: false, .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("cannot connect to PostgreSQL at 127.0.0.1:1/none (sslmode=prefer): "),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\nset DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/postgres) to a reachable server"
        ),
        "{message}"
    );
}

#[test]
fn a_state_table_failure_says_what_the_server_said() {
    let db = TestDb::new("errors_state");
    let role = "zdm_errors_state_plain";
    let mut admin = db.connect();
    // The state schema and its tables exist (an administrator's runner made them), and the
    // role may use the schema but not read the tables.
    drop(db.runner());
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA zdm TO {role}"
        ))
        .unwrap();
    let config: postgres::Config = db.url().parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => panic!("the tests connect over TCP"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let url = format!("host={host} port={port} user={role} dbname={}", db.name());
    let outcome =
        Runner::connect(&url, Options::default()).and_then(|mut runner| runner.state(&MissingFunction));
    admin
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .unwrap_or(());
    let error = outcome.expect_err("the role cannot read the state table");
    let Error::State(source) = &error else {
        panic!("{error}");
    };
    assert_eq!(source.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(
        error.to_string(),
        format!(
            "zdm state table: {} (SQLSTATE 42501)",
            source.as_db_error().unwrap().message()
        )
    );
}
