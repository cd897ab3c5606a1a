//! Step builders shared by operations: the safe NOT NULL sequence, concurrent index
//! builds, and sync trigger installation, each with its idempotent reversal.

use crate::model::{Action, Lock, Step};
use crate::sql::{bounded_name, quote_ident};

/// The name of the CHECK constraint that stands in for NOT NULL while it is validated.
pub fn not_null_check_name(table: &str, column: &str) -> String {
    bounded_name(&[table, column, "not_null"])
}

/// Counts the NULLs left and shows a few rows holding them; asked before any lock is
/// taken for the constraint.
pub fn no_nulls_check(table_q: &str, column: &str) -> Step {
    let column_q = quote_ident(column);
    Step {
        description: format!("check that no row of {table_q} has {column_q} NULL"),
        lock: Lock::AccessShare,
        table: Some(table_q.to_owned()),
        action: Action::Check {
            expectation: format!("no NULL in {table_q}.{column_q}"),
            count_sql: format!("SELECT count(*) FROM {table_q} WHERE {column_q} IS NULL"),
            sample_sql: format!(
                "SELECT zdm_row::text FROM {table_q} AS zdm_row WHERE {column_q} IS NULL LIMIT 5"
            ),
        },
    }
}

/// NOT NULL without a scan under ACCESS EXCLUSIVE: a NOT VALID check (catalog only), its
/// validation under SHARE UPDATE EXCLUSIVE (reads and writes go on), then SET NOT NULL,
/// which PostgreSQL 12+ proves from the valid check without scanning, and the check's
/// removal.
pub fn set_not_null(table: &str, column: &str) -> Vec<Step> {
    let table_q = quote_ident(table);
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    vec![
        no_nulls_check(&table_q, column),
        Step::transaction(
            format!("add CHECK ({column_q} IS NOT NULL) NOT VALID"),
            Lock::AccessExclusive,
            &table_q,
            vec![format!(
                "ALTER TABLE {table_q} ADD CONSTRAINT {check_q} CHECK ({column_q} IS NOT NULL) NOT VALID"
            )],
        ),
        Step::transaction(
            format!("validate the check on {column_q} while reads and writes go on"),
            Lock::ShareUpdateExclusive,
            &table_q,
            vec![format!("ALTER TABLE {table_q} VALIDATE CONSTRAINT {check_q}")],
        ),
        Step::transaction(
            format!("set {column_q} NOT NULL, proven by the valid check, and drop the check"),
            Lock::AccessExclusive,
            &table_q,
            vec![
                format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} SET NOT NULL"),
                format!("ALTER TABLE {table_q} DROP CONSTRAINT {check_q}"),
            ],
        ),
    ]
}

/// Undoes [`set_not_null`] from any point of it.
pub fn drop_not_null(table: &str, column: &str) -> Step {
    let table_q = quote_ident(table);
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("drop NOT NULL from {column_q}"),
        Lock::AccessExclusive,
        &table_q,
        vec![
            format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {check_q}"),
            format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP NOT NULL"),
        ],
    )
}

/// `CREATE INDEX CONCURRENTLY`; the runner drops an INVALID leftover of the same name
/// first.
pub fn create_index(table: &str, index: &str, definition: &str, unique: bool) -> Step {
    let table_q = quote_ident(table);
    let index_q = quote_ident(index);
    let unique = if unique { "UNIQUE " } else { "" };
    Step {
        description: format!("build {unique}index {index_q} concurrently"),
        lock: Lock::ShareUpdateExclusive,
        table: Some(table_q.clone()),
        action: Action::CreateIndexConcurrently {
            index: index.to_owned(),
            sql: format!("CREATE {unique}INDEX CONCURRENTLY {index_q} ON {table_q} {definition}"),
        },
    }
}

/// `DROP INDEX CONCURRENTLY IF EXISTS`.
pub fn drop_index(table: &str, index: &str) -> Step {
    let index_q = quote_ident(index);
    Step {
        description: format!("drop index {index_q} concurrently"),
        lock: Lock::ShareUpdateExclusive,
        table: Some(quote_ident(table)),
        action: Action::DropIndexConcurrently {
            index: index.to_owned(),
            sql: format!("DROP INDEX CONCURRENTLY IF EXISTS {index_q}"),
        },
    }
}

/// A row-level trigger and its function, `name` used for both. The body is PL/pgSQL
/// statements; the function does no dynamic SQL and no catalog look-ups, since it runs on
/// every write of the application.
pub struct Trigger {
    pub table: String,
    pub name: String,
    /// `BEFORE INSERT OR UPDATE`, `AFTER INSERT OR UPDATE OR DELETE`, …
    pub timing: String,
    pub body: String,
}

impl Trigger {
    /// The statements that install function and trigger (idempotent).
    pub fn statements(&self) -> Vec<String> {
        let table_q = quote_ident(&self.table);
        let name_q = quote_ident(&self.name);
        vec![
            format!(
                "CREATE OR REPLACE FUNCTION {name_q}() RETURNS trigger LANGUAGE plpgsql AS $zdm$\n\
                 #variable_conflict use_column\n\
                 BEGIN\n{}\nEND\n$zdm$",
                self.body
            ),
            format!("DROP TRIGGER IF EXISTS {name_q} ON {table_q}"),
            format!(
                "CREATE TRIGGER {name_q} {} ON {table_q} FOR EACH ROW EXECUTE FUNCTION {name_q}()",
                self.timing
            ),
        ]
    }

    /// Installs function and trigger in one transaction.
    pub fn install(&self, description: impl Into<String>) -> Step {
        Step::transaction(
            description,
            Lock::ShareRowExclusive,
            &quote_ident(&self.table),
            self.statements(),
        )
    }

    /// Removes trigger and function; safe when either is already gone.
    pub fn remove(&self, description: impl Into<String>) -> Step {
        Step::transaction(
            description,
            Lock::AccessExclusive,
            &quote_ident(&self.table),
            self.removal_statements(),
        )
    }

    /// The statements of [`Trigger::remove`].
    pub fn removal_statements(&self) -> Vec<String> {
        let table_q = quote_ident(&self.table);
        let name_q = quote_ident(&self.name);
        vec![
            format!("DROP TRIGGER IF EXISTS {name_q} ON {table_q}"),
            format!("DROP FUNCTION IF EXISTS {name_q}()"),
        ]
    }
}
