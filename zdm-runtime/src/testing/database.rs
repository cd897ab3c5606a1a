//! A fresh database per test, created from `DATABASE_URL` on the server it names.

use postgres::Client;

use super::RehearsalError;
use crate::error::describe;
use crate::session::{connect, database_url};

/// A database of its own for one test or rehearsal, created empty and dropped when it goes
/// out of scope. Dropped while the thread panics (a failed test), or after a failed
/// rehearsal, it stays for inspection; the next run under the same name replaces it.
pub struct FreshDatabase {
    name: String,
    url: String,
    server_url: String,
    keep: bool,
}

impl FreshDatabase {
    /// Creates (or re-creates) the database `zdm_<name>` on the server `DATABASE_URL` names
    /// (default `postgres://postgres@127.0.0.1:5432/postgres`). `name` is lower-cased, every
    /// character other than a letter or digit becomes `_`, and a name longer than
    /// PostgreSQL's 63 bytes is cut with a hash suffix, so distinct names stay distinct.
    /// On PostgreSQL 12 the database gets the `pgcrypto` extension, which provides
    /// `gen_random_uuid()` (built in from 13 on). The role needs `CREATEDB`.
    pub fn create(name: &str) -> Result<FreshDatabase, RehearsalError> {
        FreshDatabase::create_on(&database_url(), name)
    }

    /// [`FreshDatabase::create`] on the server `server_url` names.
    pub fn create_on(server_url: &str, name: &str) -> Result<FreshDatabase, RehearsalError> {
        let name = database_name(name);
        let failed = |error: postgres::Error| RehearsalError::Database {
            name: name.clone(),
            reason: describe(&error),
        };
        let mut admin = connect(server_url).map_err(RehearsalError::Connect)?;
        drop_database(&mut admin, &name).map_err(failed)?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", crate::quote_ident(&name)))
            .map_err(failed)?;
        let database = FreshDatabase {
            url: url_with_database(server_url, &name),
            server_url: server_url.to_owned(),
            name: name.clone(),
            keep: false,
        };
        let version: i32 = admin
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .map_err(failed)?
            .get(0);
        if version < 130_000 {
            database
                .connect()?
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
                .map_err(failed)?;
        }
        Ok(database)
    }

    /// The database's name, `zdm_<name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL: the server's, with the database replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to the database.
    pub fn connect(&self) -> Result<Client, RehearsalError> {
        connect(&self.url).map_err(RehearsalError::Connect)
    }

    /// Keeps the database when this value is dropped.
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if self.keep || std::thread::panicking() {
            eprintln!("kept the database {} for inspection", self.name);
            return;
        }
        if let Ok(mut admin) = connect(&self.server_url) {
            let _ = drop_database(&mut admin, &self.name);
        }
    }
}

/// Drops a database and the sessions still connected to it (what `WITH (FORCE)` does from
/// PostgreSQL 13 on, written so that 12 runs it too).
fn drop_database(admin: &mut Client, name: &str) -> Result<(), postgres::Error> {
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&name],
    )?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", crate::quote_ident(name)))
}

fn database_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    zdm_plan::names::bounded_name(&["zdm", &cleaned])
}

/// `url` with its database replaced by `database`.
fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_test_database() {
        assert_eq!(
            url_with_database("postgres://u@h:5432/postgres", "zdm_x"),
            "postgres://u@h:5432/zdm_x"
        );
        assert_eq!(
            url_with_database("postgres://u@h", "zdm_x"),
            "postgres://u@h/zdm_x"
        );
        assert_eq!(
            url_with_database("postgres://u@h/db?sslmode=disable", "d"),
            "postgres://u@h/d?sslmode=disable"
        );
    }

    #[test]
    fn long_names_give_distinct_short_database_names() {
        let a = database_name(&"a".repeat(80));
        let b = database_name(&format!("{}b", "a".repeat(80)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert_eq!(database_name("App::Rehearsal"), "zdm_app__rehearsal");
    }
}
