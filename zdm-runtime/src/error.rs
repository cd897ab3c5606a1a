//! The runner's errors: each says what was refused or what failed, and what to do.

use std::fmt;
use std::time::Duration;

use postgres::error::ErrorPosition;
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
    /// The server is newer than the newest PostgreSQL major zdm is tested on.
    #[error(
        "PostgreSQL {found} is newer than zdm supports: it runs against 12 to {newest}, the majors its test \
         suite runs on, since each major changes catalog details zdm reads"
    )]
    ServerTooNew {
        /// The server's `server_version`.
        found: String,
        /// The newest major zdm supports.
        newest: i32,
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
    /// An application version built with these migrations may not start yet
    /// ([`check_ready`](crate::check_ready)): what is missing, and what to run.
    #[error("{migration}: {reason}")]
    NotReady {
        migration: String,
        /// What is missing, naming the version schema, and what to run.
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
        /// Everything the server said (SQLSTATE, detail, hint, context) and, when known,
        /// the statement that failed with the error's position marked.
        message: String,
        #[source]
        source: postgres::Error,
    },
    /// The state schema is missing and cannot be made by this role, or its configured name
    /// is no name PostgreSQL keeps as given.
    #[error("zdm cannot set up its state schema: {reason}")]
    StateSchema {
        /// What is missing and what to do.
        reason: String,
        /// The server's refusal; none when the name was refused before asking the server.
        #[source]
        source: Option<postgres::Error>,
    },
    /// Reading or writing the state table failed.
    #[error("zdm state table: {}", describe(.0))]
    State(#[source] postgres::Error),
    /// Reading the catalog (tables, columns, indexes, locks) failed.
    #[error("reading the catalog: {}", describe(.0))]
    Catalog(#[source] postgres::Error),
    /// Preparing the session (server version, settings, the runner lock) failed.
    #[error("preparing the session: {}", describe(.0))]
    Session(#[source] postgres::Error),
}

fn unreachable_hint(reached: bool) -> &'static str {
    if reached {
        ""
    } else {
        "\nset DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/postgres) to a reachable server"
    }
}

impl Error {
    /// Whether the error is a refusal of what the database holds (drift, data that breaks a
    /// precondition, something zdm cannot do safely) rather than a failure of a statement.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Drift { .. } | Error::Refused { .. } | Error::Precondition { .. }
        )
    }

    /// Whether the server reported `lock_not_available` (a `lock_timeout` expired).
    pub(crate) fn is_lock_timeout(error: &postgres::Error) -> bool {
        error.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
    }
}

/// Renders a driver error with everything the server said: message and SQLSTATE, then
/// detail, hint, context and the internal query, one per line; `postgres::Error`'s own
/// `Display` says only "db error".
pub(crate) fn describe(error: &postgres::Error) -> String {
    describe_statement(error, None)
}

/// [`describe`], followed by the statement that failed when it is known, with the position
/// PostgreSQL gave marked under it.
pub(crate) fn describe_statement(error: &postgres::Error, statement: Option<&str>) -> String {
    let Some(db) = error.as_db_error() else {
        return error.to_string();
    };
    let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    for (label, value) in [
        ("detail", db.detail()),
        ("hint", db.hint()),
        ("context", db.where_()),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("\n  {label}: {}", value.trim_end()));
        }
    }
    match db.position() {
        Some(ErrorPosition::Internal { position, query }) => {
            text.push_str(&show_statement("internal query", query, Some(*position)));
        }
        Some(ErrorPosition::Original(position)) => match statement {
            Some(statement) => text.push_str(&show_statement("statement", statement, Some(*position))),
            None => text.push_str(&format!("\n  at character {position} of the statement")),
        },
        None => {}
    }
    if let (Some(statement), None | Some(ErrorPosition::Internal { .. })) = (statement, db.position()) {
        text.push_str(&show_statement("statement", statement, None));
    }
    text
}

/// `statement` indented under its label, with a `^` under the character at `position`
/// (1-based, counted in characters as PostgreSQL counts them).
fn show_statement(label: &str, statement: &str, position: Option<u32>) -> String {
    let indent = " ".repeat(label.len() + 4);
    let mut text = format!("\n  {label}: ");
    let mut start = 0usize;
    let target = position.map(|position| position.saturating_sub(1) as usize);
    for (number, line) in statement.trim_end().lines().enumerate() {
        if number > 0 {
            text.push('\n');
            text.push_str(&indent);
        }
        text.push_str(line);
        let length = line.chars().count();
        if let Some(target) = target.filter(|target| (start..=start + length).contains(target)) {
            text.push('\n');
            text.push_str(&indent);
            text.push_str(&" ".repeat(target - start));
            text.push('^');
        }
        // The newline ends the line and counts as one character of the statement.
        start += length + 1;
    }
    text
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

#[cfg(test)]
mod tests {
    use super::show_statement;

    #[test]
    fn the_caret_marks_the_position_on_its_own_line_of_the_statement() {
        // Position 15 is the `n` of `nope`: "SELECT 1\n" is 9 characters.
        assert_eq!(
            show_statement("statement", "SELECT 1\nFROM nope", Some(15)),
            "\n  statement: SELECT 1\n             FROM nope\n                  ^"
        );
        assert_eq!(
            show_statement("statement", "SELECT é, x", Some(11)),
            "\n  statement: SELECT é, x\n                       ^"
        );
        assert_eq!(
            show_statement("internal query", "SELECT 1", None),
            "\n  internal query: SELECT 1"
        );
    }
}
