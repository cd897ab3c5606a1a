//! The runner's errors: each says what was refused or what failed, and what to do.

use std::fmt;
use std::time::Duration;

use zdm_plan::Phase;

/// A session that held a lock the runner waited for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// The backend's process id (`pg_backend_pid()` in that session).
    pub pid: i32,
    /// `pg_stat_activity.state`: `active`, `idle in transaction`, …
    pub state: String,
    /// How long its current transaction has been open.
    pub transaction_age: Duration,
    /// Its current or last query.
    pub query: String,
    /// The lock it holds on the table.
    pub mode: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} ({}, {} held, transaction open {:.1}s): {}",
            self.pid,
            self.state,
            self.mode,
            self.transaction_age.as_secs_f64(),
            self.query.trim()
        )
    }
}

fn list_blockers(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "no session holds a conflicting lock any more".to_owned();
    }
    blockers
        .iter()
        .map(|blocker| format!("\n  - {blocker}"))
        .collect()
}

/// Everything that can stop a migration step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server answered at the given address, or the server refused the connection (TLS,
    /// authentication, a missing database).
    #[error("cannot connect to PostgreSQL at {target}: {reason}{hint}", hint = unreachable_hint(*.reached))]
    Connect {
        /// Host, port, database and the TLS settings tried, without the password.
        target: String,
        /// Why it failed: the driver's message with its causes ("connection refused", …),
        /// the server's error with its SQLSTATE, or what TLS found wrong.
        reason: String,
        /// Whether a server answered; when none did, the message says how to point zdm at one.
        reached: bool,
        #[source]
        source: postgres::Error,
    },
    /// The connection string's TLS settings cannot be used (an unknown `sslmode`, a
    /// certificate file that cannot be read); nothing was sent to the server.
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    TlsSettings {
        /// Host, port and database, without the password.
        target: String,
        /// What is wrong with which setting.
        reason: String,
    },
    /// The server is older than PostgreSQL 12.
    #[error(
        "PostgreSQL {found} is too old: zdm needs 12 or newer (SET NOT NULL must be able to \
         use a validated CHECK constraint instead of scanning the table)"
    )]
    ServerTooOld {
        /// The server's `server_version`.
        found: String,
    },
    /// Another runner holds the migration lock on this database.
    #[error(
        "another zdm runner is working on this database (backend pid {holder}); \
         wait for it to finish, then retry"
    )]
    Busy {
        /// The pid of the session that holds the advisory lock.
        holder: i32,
    },
    /// The requested phase is not the next one for this migration.
    #[error("{migration}: cannot {action}: {reason}")]
    PhaseOrder {
        /// The migration's id.
        migration: String,
        /// `run expand`, `revert contract`, …
        action: String,
        /// Why not, and what would be allowed.
        reason: String,
    },
    /// The plan recorded when the migration started differs from the compiled one.
    #[error(
        "{migration}: the declaration changed after the migration started (plan checksum \
         {recorded} in the database, {compiled} compiled); revert with the old build, or \
         give the changed declaration a new id"
    )]
    PlanChanged {
        migration: String,
        recorded: String,
        compiled: String,
    },
    /// The live schema is not what the declaration expects.
    #[error("{migration}: the database does not match the declaration: expected {expected}, found {found}; nothing was changed")]
    Drift {
        migration: String,
        expected: String,
        found: String,
    },
    /// A precondition on the data failed.
    #[error(
        "{migration}: {phase} refused before any lock-heavy step: expected {expectation}, \
         found {count} offending row(s); for example:{samples}",
        samples = .samples.iter().map(|row| format!("\n  {row}")).collect::<String>()
    )]
    Precondition {
        migration: String,
        phase: Phase,
        expectation: String,
        count: i64,
        samples: Vec<String>,
    },
    /// The declaration cannot be carried out safely on this database (a column swap that
    /// would lose a constraint, a view, a type that cannot convert …); refused before the
    /// phase changed anything.
    #[error("{migration}: refused before {before}: {reason}")]
    Refused {
        migration: String,
        /// What did not happen: "any change", "the swap".
        before: String,
        /// What stands in the way, naming the objects, and what to do about it.
        reason: String,
    },
    /// A lock could not be taken within the retry budget.
    #[error(
        "{migration}: step \"{step}\" could not take its lock within {budget:?} \
         ({attempts} attempts of {lock_timeout:?} each); blocked by:{blockers}",
        blockers = list_blockers(.blockers)
    )]
    LockTimeout {
        migration: String,
        step: String,
        attempts: u32,
        lock_timeout: Duration,
        budget: Duration,
        blockers: Vec<Blocker>,
    },
    /// A statement failed.
    #[error("{migration}: step \"{step}\" failed: {message}")]
    Step {
        migration: String,
        step: String,
        /// The server's message, with its detail and hint.
        message: String,
        #[source]
        source: postgres::Error,
    },
    /// Reading or writing the state table failed.
    #[error("zdm state table: {0}")]
    State(#[source] postgres::Error),
}

fn unreachable_hint(reached: bool) -> &'static str {
    if reached {
        ""
    } else {
        "\nset DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/postgres) to a reachable server"
    }
}

impl Error {
    /// Whether the server reported `lock_not_available` (a `lock_timeout` expired).
    pub(crate) fn is_lock_timeout(error: &postgres::Error) -> bool {
        error.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
    }
}

/// Renders a driver error with the server's detail and hint, which `postgres::Error`'s own
/// `Display` leaves out.
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => error.to_string(),
    }
}

/// A shorthand for results of the runner.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A driver error with the chain of its causes, which its own `Display` leaves out.
pub(crate) fn with_causes(error: &postgres::Error) -> String {
    let mut text = describe(error);
    if error.as_db_error().is_some() {
        // The server's error is the only cause, and `describe` said all of it.
        return text;
    }
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(&format!(": {inner_text}"));
        }
        cause = inner.source();
    }
    text
}
