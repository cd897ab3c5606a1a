//! The new version behind PgBouncer in transaction mode, as the README's "The search path"
//! section says to run it: each of its transactions begins with `SET LOCAL search_path`,
//! because PgBouncer hands every transaction whichever server connection is free, so a
//! session's `SET` stays with that server connection and reaches other clients.
//!
//! These tests start a PgBouncer of their own (the `pgbouncer` program, Debian's package of
//! that name) in front of the test database. They are `#[ignore]`d so that the README's test
//! command needs nothing but PostgreSQL; `bash .ci/run` installs PgBouncer and runs them with
//! `cargo test --test pgbouncer -- --ignored`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use zdm_runtime::{zero_downtime, Phase};
use zdm_suite::TestDb;

#[zero_downtime(
    id = "pgbouncer_full_name",
    rename_column(table = "customers", from = "name", to = "full_name")
)]
struct RenameName;

/// A PgBouncer in transaction mode with one server connection for the test database, so
/// that every client's transactions share it one after another. Stopped when dropped.
struct Bouncer {
    child: Child,
    port: u16,
    database: String,
    folder: PathBuf,
}

impl Bouncer {
    fn start(db: &TestDb) -> Bouncer {
        let config: postgres::Config = db.url().parse().expect("the test database URL parses");
        let server_port = config.get_ports().first().copied().unwrap_or(5432);
        let port = free_port();
        let folder = std::env::temp_dir().join(format!("zdm-pgbouncer-{}-{port}", db.name()));
        std::fs::create_dir_all(&folder).unwrap();
        let users = folder.join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        let ini = folder.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{db} = host=127.0.0.1 port={server_port} dbname={db}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
                 default_pool_size = 1\nmin_pool_size = 0\nmax_client_conn = 20\n",
                db = db.name(),
                users = users.display(),
            ),
        )
        .unwrap();
        let mut command = Command::new("pgbouncer");
        // PgBouncer will not run as root; `-u` has it switch to a user that may read the
        // files above (world-readable in the temporary folder).
        if running_as_root() {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("could not start pgbouncer ({error}): install it (Debian: apt-get install pgbouncer); bash .ci/run does")
            });
        let bouncer = Bouncer {
            child,
            port,
            database: db.name().to_owned(),
            folder,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// A client of the PgBouncer, with `options` added to the startup packet when given.
    fn client(&self, options: Option<&str>) -> Result<Client, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname(&self.database);
        if let Some(options) = options {
            config.options(options);
        }
        config.connect(NoTls)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Reads one value with the simple protocol: outside a transaction, PgBouncer may lend the
/// extended protocol's Parse and Execute different server connections.
fn simple_value(client: &mut Client, sql: &str) -> String {
    let messages = client.simple_query(sql).unwrap();
    messages
        .iter()
        .find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql} returned no value"))
}

fn show_search_path(client: &mut Client) -> String {
    simple_value(client, "SHOW search_path")
}

fn customers(db: &TestDb) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '');
             INSERT INTO customers (name) SELECT 'seed ' || n FROM generate_series(1, 100) AS n;",
        )
        .unwrap();
    client
}

/// One transaction of the new version: `SET LOCAL` puts the version schema first for this
/// transaction alone, then the new name is written and read back through the view.
fn new_version_writes(client: &mut Client, value: &str) -> i64 {
    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute(&format!(
            "SET LOCAL search_path = {}, public",
            RenameName::VERSION_SCHEMA
        ))
        .unwrap();
    let id: i64 = transaction
        .query_one(
            "INSERT INTO customers (full_name) VALUES ($1) RETURNING id",
            &[&value],
        )
        .unwrap()
        .get(0);
    let read: String = transaction
        .query_one("SELECT full_name FROM customers WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(read, value);
    transaction.commit().unwrap();
    id
}

/// One transaction of the old version, on the table under its old name.
fn old_version_writes(client: &mut Client, value: &str) -> i64 {
    let mut transaction = client.transaction().unwrap();
    let id: i64 = transaction
        .query_one("INSERT INTO customers (name) VALUES ($1) RETURNING id", &[&value])
        .unwrap()
        .get(0);
    transaction.commit().unwrap();
    id
}

/// The two versions take turns on PgBouncer's one server connection through every phase:
/// each of the new version's transactions sees the new shape, each of the old version's the
/// old one (the new version's `SET LOCAL` ended with its transaction), and every row holds
/// what its writer wrote.
#[test]
#[ignore = "needs pgbouncer; bash .ci/run installs it and runs these tests"]
fn set_local_gives_each_transaction_its_version() {
    let db = TestDb::new("pgbouncer_set_local");
    let mut direct = customers(&db);
    let bouncer = Bouncer::start(&db);
    let mut new = bouncer.client(None).unwrap();
    let mut old = bouncer.client(None).unwrap();
    let mut runner = db.runner();
    let mut written = Vec::new();
    for phase in [Phase::Expand, Phase::Sync, Phase::Backfill, Phase::Contract] {
        runner.run(&RenameName, phase).unwrap();
        for turn in 0..20 {
            let value = format!("new {phase:?} {turn}");
            written.push((new_version_writes(&mut new, &value), value));
            // The old version is stopped before the contract, as the deploy order says.
            if phase != Phase::Contract {
                let value = format!("old {phase:?} {turn}");
                written.push((old_version_writes(&mut old, &value), value));
            }
        }
        assert_eq!(show_search_path(&mut old), "\"$user\", public", "after {phase:?}");
    }
    for (id, value) in written {
        let stored: String = direct
            .query_one("SELECT full_name FROM customers WHERE id = $1", &[&id])
            .unwrap()
            .get(0);
        assert_eq!(stored, value, "row {id}");
    }
}

/// Why the README says `SET LOCAL`: a session's `SET` by one client stays on the server
/// connection PgBouncer lends next to another client, whose statements then resolve through
/// a version schema it never asked for.
#[test]
#[ignore = "needs pgbouncer; bash .ci/run installs it and runs these tests"]
fn a_session_set_reaches_another_client() {
    let db = TestDb::new("pgbouncer_session_set");
    let _direct = customers(&db);
    db.runner().run(&RenameName, Phase::Expand).unwrap();
    let bouncer = Bouncer::start(&db);
    let mut new = bouncer.client(None).unwrap();
    let mut old = bouncer.client(None).unwrap();
    new.batch_execute(&format!(
        "SET search_path = {}, public",
        RenameName::VERSION_SCHEMA
    ))
    .unwrap();
    assert_eq!(
        show_search_path(&mut old),
        format!("{}, public", RenameName::VERSION_SCHEMA)
    );
    let schema = simple_value(
        &mut old,
        "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'customers'::regclass",
    );
    assert_eq!(schema, RenameName::VERSION_SCHEMA);
}

/// The README says PgBouncer 1.18 (Debian 12's) refuses the `options` startup parameter;
/// later versions may forward or drop it, so this holds only for 1.18.
#[test]
#[ignore = "needs pgbouncer; bash .ci/run installs it and runs these tests"]
fn pgbouncer_1_18_refuses_options() {
    let version = Command::new("pgbouncer")
        .arg("-V")
        .output()
        .expect("pgbouncer runs");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    if !version.starts_with("PgBouncer 1.18.") {
        eprintln!("not PgBouncer 1.18 ({version}); nothing to check");
        return;
    }
    let db = TestDb::new("pgbouncer_options");
    let bouncer = Bouncer::start(&db);
    let options = format!("-c search_path={},public", RenameName::VERSION_SCHEMA);
    let error = bouncer
        .client(Some(&options))
        .err()
        .expect("PgBouncer 1.18 refuses the options startup parameter");
    assert_eq!(error.code(), Some(&postgres::error::SqlState::PROTOCOL_VIOLATION));
}
