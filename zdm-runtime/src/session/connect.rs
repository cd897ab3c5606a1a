//! Opening the connection: the address, the connect timeout, and the oldest server zdm
//! runs against.

use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::error::{with_causes, Error, Result};

/// The oldest server zdm runs against: `SET NOT NULL` skips its table scan when a valid
/// `CHECK (col IS NOT NULL)` exists only from PostgreSQL 12 on.
const MIN_SERVER_VERSION: i32 = 120_000;

/// The database URL from `DATABASE_URL`, or the local default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Opens a connection with a short connect timeout, so a missing server is reported at
/// once instead of hanging.
pub fn connect(url: &str) -> Result<Client> {
    let mut config = postgres::Config::from_str(url).map_err(|source| Error::Connect {
        target: "an unparsable DATABASE_URL".to_owned(),
        reason: with_causes(&source),
        source,
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.connect(NoTls).map_err(|source| Error::Connect {
        target: describe_target(&config),
        reason: with_causes(&source),
        source,
    })
}

fn describe_target(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

pub(crate) fn check_server_version(client: &mut Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .map_err(Error::State)?;
    let number: i32 = row.get(0);
    if number < MIN_SERVER_VERSION {
        return Err(Error::ServerTooOld { found: row.get(1) });
    }
    Ok(())
}
