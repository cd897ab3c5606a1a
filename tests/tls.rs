//! TLS as libpq means it, against the server at `DATABASE_URL`, which must have `ssl = on`
//! (Debian's PostgreSQL does, with a self-signed "snakeoil" certificate; `.ci/run` turns it
//! on where it is off). The server's own certificate serves as the CA that vouches for it,
//! so nothing about the server has to be reconfigured.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use postgres::Client;
use x509_cert::der::DecodePem;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use zdm_runtime::{Error, Options, Runner};
use zdm_suite::{connect_or_exit, database_url, scalar, TestDb};

/// How to reach the server, and the certificate it presents.
struct Server {
    user: String,
    password: Option<String>,
    /// The address the tests connect to, whatever name they give as the host.
    address: IpAddr,
    port: u16,
    certificate: PathBuf,
    /// The DNS and IP names of the certificate's subjectAltName.
    names: Vec<String>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let url = database_url();
        let mut admin = connect_or_exit(&url);
        let ssl: String = scalar(&mut admin, "SELECT current_setting('ssl')");
        assert_eq!(
            ssl, "on",
            "the TLS tests need a server with ssl = on (bash .ci/run turns it on)"
        );
        let file: String = scalar(&mut admin, "SELECT current_setting('ssl_cert_file')");
        let data: String = scalar(&mut admin, "SELECT current_setting('data_directory')");
        // A relative ssl_cert_file is relative to the data directory.
        let certificate = Path::new(&data).join(file);
        let config: postgres::Config = url.parse().expect("DATABASE_URL");
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let address = (host.as_str(), port)
            .to_socket_addrs()
            .expect("resolving the DATABASE_URL host")
            .next()
            .expect("an address for the DATABASE_URL host")
            .ip();
        let pem = std::fs::read_to_string(&certificate).unwrap_or_else(|error| {
            panic!(
                "reading the server's certificate {}: {error}",
                certificate.display()
            )
        });
        let names = subject_names(&pem);
        assert!(!names.is_empty(), "{} names no host", certificate.display());
        Server {
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password: config
                .get_password()
                .map(|password| String::from_utf8_lossy(password).into_owned()),
            address,
            port,
            certificate,
            names,
        }
    })
}

fn subject_names(pem: &str) -> Vec<String> {
    let certificate = x509_cert::Certificate::from_pem(pem).expect("the server's certificate is PEM");
    let Some((_, SubjectAltName(names))) = certificate
        .tbs_certificate
        .get::<SubjectAltName>()
        .expect("a readable subjectAltName")
    else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DnsName(name) => Some(name.as_str().to_owned()),
            GeneralName::IpAddress(bytes) => match bytes.as_bytes().len() {
                4 => <[u8; 4]>::try_from(bytes.as_bytes())
                    .ok()
                    .map(|ip| IpAddr::from(ip).to_string()),
                16 => <[u8; 16]>::try_from(bytes.as_bytes())
                    .ok()
                    .map(|ip| IpAddr::from(ip).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Server {
    /// The URL of `database` at `host`, connecting to the server's address whatever the
    /// host (libpq's `hostaddr`): the host is what the certificate is checked against.
    fn url(&self, host: &str, database: &str, tls: &str) -> String {
        let password = self
            .password
            .as_deref()
            .map(|password| format!(":{}", encode(password)))
            .unwrap_or_default();
        let host = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => host.to_owned(),
        };
        format!(
            "postgres://{}{password}@{host}:{}/{database}?hostaddr={}&{tls}",
            encode(&self.user),
            self.port,
            self.address
        )
    }

    /// A name the certificate is for.
    fn name(&self) -> &str {
        &self.names[0]
    }

    /// zdm's account of where it connected: `host:port/database (hostaddr …, …)`.
    fn target(&self, host: &str, database: &str, tls: &str) -> String {
        format!(
            "{host}:{}/{database} (hostaddr {}, {tls})",
            self.port, self.address
        )
    }
}

fn encrypted(client: &mut Client) -> bool {
    scalar(client, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
}

fn connect(url: &str) -> Client {
    zdm_runtime::connect(url).unwrap_or_else(|error| panic!("{error}"))
}

fn refusal(url: &str) -> Error {
    match zdm_runtime::connect(url) {
        Ok(_) => panic!("{url} connected"),
        Err(error) => error,
    }
}

/// A file of the test's own under the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("zdm_tls_{}_{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A certificate authority of the test's own, which signed nothing the server shows.
fn other_ca() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "zdm test CA");
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn require_encrypts_disable_does_not_and_prefer_takes_tls_when_offered() {
    let db = TestDb::new("tls_modes");
    let server = server();
    let host = server.address.to_string();
    assert!(encrypted(&mut connect(&server.url(
        &host,
        db.name(),
        "sslmode=require"
    ))));
    assert!(!encrypted(&mut connect(&server.url(
        &host,
        db.name(),
        "sslmode=disable"
    ))));
    assert!(encrypted(&mut connect(&server.url(
        &host,
        db.name(),
        "sslmode=prefer"
    ))));
    // prefer is the default, as with libpq.
    assert!(encrypted(&mut connect(&server.url(&host, db.name(), ""))));

    // The runner's own session: the one holding the runner's advisory lock.
    let _runner = Runner::connect(
        &server.url(&host, db.name(), "sslmode=require"),
        Options::default(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let runner_encrypted: bool = scalar(
        &mut db.connect(),
        "SELECT s.ssl FROM pg_locks l JOIN pg_stat_ssl s USING (pid) \
         WHERE l.locktype = 'advisory' AND l.granted \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert!(runner_encrypted);
}

#[test]
fn verify_full_accepts_the_certificate_of_the_ca_it_is_given() {
    let db = TestDb::new("tls_verify_full");
    let server = server();
    let root = server.certificate.display().to_string();
    let url = server.url(
        server.name(),
        db.name(),
        &format!("sslmode=verify-full&sslrootcert={}", encode(&root)),
    );
    assert!(encrypted(&mut connect(&url)));

    // libpq's key=value form says the same.
    let mut key_values = format!(
        "host={} hostaddr={} port={} user={} dbname={} sslmode=verify-full sslrootcert='{}'",
        server.name(),
        server.address,
        server.port,
        server.user,
        db.name(),
        root.replace('\\', "\\\\").replace('\'', "\\'"),
    );
    if let Some(password) = &server.password {
        key_values.push_str(&format!(
            " password='{}'",
            password.replace('\\', "\\\\").replace('\'', "\\'")
        ));
    }
    assert!(encrypted(&mut connect(&key_values)));

    // verify-ca checks the chain only, so an address the certificate does not name passes.
    let host = server.address.to_string();
    assert!(encrypted(&mut connect(&server.url(
        &host,
        db.name(),
        &format!("sslmode=verify-ca&sslrootcert={}", encode(&root)),
    ))));
}

#[test]
fn a_certificate_another_ca_did_not_sign_is_refused() {
    let db = TestDb::new("tls_wrong_ca");
    let server = server();
    let ca = TempFile::new("other_ca.pem", &other_ca());
    for mode in ["verify-full", "verify-ca", "require"] {
        let tls = format!("sslmode={mode}&sslrootcert={}", encode(ca.path()));
        let error = refusal(&server.url(server.name(), db.name(), &tls));
        // As libpq: with a root certificate, require checks the chain too.
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to PostgreSQL at {}: the server's certificate is not signed by a \
                 certificate in sslrootcert {}",
                server.target(
                    server.name(),
                    db.name(),
                    &format!("sslmode={mode}, sslrootcert={}", ca.path())
                ),
                ca.path()
            )
        );
        assert!(matches!(error, Error::Connect { reached: true, .. }));
    }
}

#[test]
fn verify_full_refuses_a_host_the_certificate_does_not_name() {
    let db = TestDb::new("tls_wrong_host");
    let server = server();
    let root = server.certificate.display().to_string();
    let tls = format!("sslmode=verify-full&sslrootcert={}", encode(&root));
    let names = server.names.join(", ");
    for host in [server.address.to_string(), "wrong.invalid".to_owned()] {
        assert!(!server.names.contains(&host), "the certificate names {host}");
        let error = refusal(&server.url(&host, db.name(), &tls));
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to PostgreSQL at {}: the server's certificate is for {names}, not for \
                 the host \"{host}\" (sslmode=verify-full checks the host name)",
                server.target(
                    &host,
                    db.name(),
                    &format!("sslmode=verify-full, sslrootcert={root}")
                ),
            )
        );
    }
}

#[test]
fn certificate_files_that_cannot_be_used_are_named() {
    let db = TestDb::new("tls_files");
    let server = server();
    let host = server.address.to_string();
    let target = format!("{host}:{}/{} (hostaddr {host})", server.port, db.name());
    let refused = |tls: String| refusal(&server.url(&host, db.name(), &tls)).to_string();

    let missing = std::env::temp_dir().join("zdm_tls_no_such_file.pem");
    let missing = missing.to_str().unwrap();
    assert_eq!(
        refused(format!("sslmode=verify-full&sslrootcert={}", encode(missing))),
        format!(
            "cannot connect to PostgreSQL at {target}: sslrootcert {missing} cannot be read: \
             No such file or directory (os error 2)"
        )
    );
    let text = TempFile::new("not_pem.txt", "not a certificate\n");
    assert_eq!(
        refused(format!("sslmode=verify-ca&sslrootcert={}", encode(text.path()))),
        format!(
            "cannot connect to PostgreSQL at {target}: sslrootcert {} holds no PEM certificate",
            text.path()
        )
    );
    let certificate = server.certificate.display().to_string();
    assert_eq!(
        refused(format!(
            "sslmode=require&sslcert={}&sslkey={}",
            encode(&certificate),
            encode(&certificate)
        )),
        format!(
            "cannot connect to PostgreSQL at {target}: sslkey {certificate} holds no unencrypted \
             private key (PEM: PKCS#8, PKCS#1 or SEC1)"
        )
    );
    assert_eq!(
        refused(format!("sslmode=require&sslcert={}", encode(&certificate))),
        format!(
            "cannot connect to PostgreSQL at {target}: sslcert and sslkey go together: give both \
             the client certificate and its private key (PEM files)"
        )
    );
    assert_eq!(
        refused("sslmode=allow".to_owned()),
        format!(
            "cannot connect to PostgreSQL at {target}: sslmode=allow is not supported; use prefer \
             (TLS whenever the server offers it) or disable"
        )
    );
}

#[test]
fn a_client_certificate_is_read_from_pem_files() {
    let db = TestDb::new("tls_client_certificate");
    let server = server();
    let host = server.address.to_string();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["zdm-client".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = TempFile::new("client.crt", &certificate.pem());
    let key_file = TempFile::new("client.key", &key.serialize_pem());
    let tls = format!(
        "sslmode=require&sslcert={}&sslkey={}",
        encode(cert_file.path()),
        encode(key_file.path())
    );
    // The server asks for no client certificate (it has no ssl_ca_file), so this shows that
    // the pair is read and accepted, not that the server checks it.
    assert!(encrypted(&mut connect(&server.url(&host, db.name(), &tls))));

    let other_key = TempFile::new("other.key", &rcgen::KeyPair::generate().unwrap().serialize_pem());
    let tls = format!(
        "sslmode=require&sslcert={}&sslkey={}",
        encode(cert_file.path()),
        encode(other_key.path())
    );
    let message = refusal(&server.url(&host, db.name(), &tls)).to_string();
    let expected = format!(
        "cannot connect to PostgreSQL at {host}:{}/{} (hostaddr {host}): sslcert {} and its sslkey do \
         not make a client certificate: ",
        server.port,
        db.name(),
        cert_file.path()
    );
    assert!(message.starts_with(&expected), "{message}");
}

/// The local server offers TLS, so a server that does not is played by a listener that
/// answers PostgreSQL's TLS request as such a server does: with `N`.
#[test]
fn require_refuses_a_server_that_offers_no_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answering = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 8];
        stream.read_exact(&mut request).unwrap();
        // Length 8, then the SSLRequest code 80877103.
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
        stream.write_all(b"N").unwrap();
    });
    let error = refusal(&format!(
        "postgres://postgres@127.0.0.1:{port}/none?sslmode=require"
    ));
    answering.join().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/none (sslmode=require): the server does \
             not offer TLS, and sslmode=require needs it"
        )
    );
}

/// The example binary, the CLI over the add_column demo's migrations.
fn example_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--example", "add_column"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building the add_column example");
            deps.parent().unwrap().join("examples").join("add_column")
        })
        .clone()
}

/// `sslrootcert=system` reads the platform's trust store, which OpenSSL's `SSL_CERT_FILE`
/// points elsewhere, for this one process.
#[test]
fn the_cli_takes_tls_from_the_url_and_system_means_the_platform_roots() {
    let db = TestDb::new("tls_cli");
    let server = server();
    let url = server.url(server.name(), db.name(), "sslrootcert=system");
    let run = |roots: &str| {
        Command::new(example_binary())
            .arg("status")
            .env("DATABASE_URL", &url)
            .env("SSL_CERT_FILE", roots)
            .env_remove("SSL_CERT_DIR")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let trusted = run(&server.certificate.display().to_string());
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );

    let ca = TempFile::new("cli_ca.pem", &other_ca());
    let untrusted = run(ca.path());
    assert_eq!(untrusted.status.code(), Some(6));
    assert_eq!(
        String::from_utf8_lossy(&untrusted.stderr),
        format!(
            "error: cannot connect to PostgreSQL at {}: the server's certificate is not signed by any \
             of the platform's trusted roots (sslrootcert=system)\n",
            server.target(
                server.name(),
                db.name(),
                "sslmode=verify-full, sslrootcert=system"
            )
        )
    );
}
