//! Opening the connection: the address, the connect timeout, and the oldest server zdm
//! runs against.

use std::str::FromStr;
use std::time::Duration;

use postgres::Client;

use super::tls::Tls;

use crate::error::{with_causes, Error, Result};

/// The PostgreSQL majors zdm runs against, the one place they are declared. 12 is the
/// oldest because `SET NOT NULL` skips its table scan when a valid `CHECK (col IS NOT NULL)`
/// exists only from 12 on; 18 is the newest the test suite runs on (`.ci/test-major`), and
/// each major changes catalog details zdm reads (18 made NOT NULL a constraint).
pub(crate) const SUPPORTED_MAJORS: std::ops::RangeInclusive<i32> = 12..=18;

/// Refuses a server outside [`SUPPORTED_MAJORS`], by its `server_version_num`.
fn refuse_unsupported(number: i32, found: String) -> Result<()> {
    let major = number / 10_000;
    if major < *SUPPORTED_MAJORS.start() {
        return Err(Error::ServerTooOld { found });
    }
    if major > *SUPPORTED_MAJORS.end() {
        return Err(Error::ServerTooNew {
            found,
            newest: *SUPPORTED_MAJORS.end(),
        });
    }
    Ok(())
}

/// The database URL from `DATABASE_URL`, or the local default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Opens a connection with a short connect timeout, so a missing server is reported at
/// once instead of hanging. TLS follows the URL's `sslmode`, `sslrootcert`, `sslcert` and
/// `sslkey`, with libpq's meaning (see [`tls`](super::tls)).
pub fn connect(url: &str) -> Result<Client> {
    let (rest, taken) = Tls::take(url);
    let mut config = postgres::Config::from_str(&rest).map_err(|source| Error::Connect {
        target: "an unparsable DATABASE_URL".to_owned(),
        reason: with_causes(&source),
        reached: false,
        source,
    })?;
    let settings = |reason| Error::TlsSettings {
        target: describe_target(&config, None),
        reason,
    };
    let tls = Tls::resolve(taken).map_err(settings)?;
    let connector = tls.connector().map_err(settings)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.ssl_mode(tls.ssl_mode());
    config.connect(connector).map_err(|source| {
        let explained = tls.explain(&source, &first_host(&config));
        // A server that answered, even to refuse (authentication, TLS, a missing
        // database), is reachable: pointing at another server would not help.
        let reached = source.as_db_error().is_some() || explained.is_some() || is_tls_failure(&source);
        Error::Connect {
            target: describe_target(&config, Some(&tls)),
            reason: explained.unwrap_or_else(|| with_causes(&source)),
            reached,
            source,
        }
    })
}

/// Whether the TLS handshake failed: tokio-postgres's words for its error kind, which it
/// does not expose otherwise.
fn is_tls_failure(error: &postgres::Error) -> bool {
    error.to_string().starts_with("error performing TLS handshake")
}

fn first_host(config: &postgres::Config) -> String {
    config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .or_else(|| config.get_hostaddrs().first().map(ToString::to_string))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `host:port/database (hostaddr …, sslmode=…)`: where zdm tried to connect, and how.
fn describe_target(config: &postgres::Config, tls: Option<&Tls>) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    let mut how = Vec::new();
    if !config.get_hosts().is_empty() {
        if let Some(address) = config.get_hostaddrs().first() {
            how.push(format!("hostaddr {address}"));
        }
    }
    if let Some(tls) = tls {
        how.push(tls.describe());
    }
    let mut text = format!("{}:{port}/{database}", first_host(config));
    if !how.is_empty() {
        text.push_str(&format!(" ({})", how.join(", ")));
    }
    text
}

pub(crate) fn check_server_version(client: &mut Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .map_err(Error::Session)?;
    refuse_unsupported(row.get(0), row.get(1))
}

#[cfg(test)]
mod tests {
    use super::refuse_unsupported;

    #[test]
    fn majors_outside_12_to_18_are_refused() {
        assert!(refuse_unsupported(120_022, "12.22".into()).is_ok());
        assert!(refuse_unsupported(180_004, "18.4".into()).is_ok());
        assert_eq!(
            refuse_unsupported(110_022, "11.22".into()).unwrap_err().to_string(),
            "PostgreSQL 11.22 is too old: zdm needs 12 or newer (SET NOT NULL must be able to use a validated \
             CHECK constraint instead of scanning the table)"
        );
        assert_eq!(
            refuse_unsupported(190_000, "19beta1".into()).unwrap_err().to_string(),
            "PostgreSQL 19beta1 is newer than zdm supports: it runs against 12 to 18, the majors its test suite \
             runs on, since each major changes catalog details zdm reads"
        );
    }
}
