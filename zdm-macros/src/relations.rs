//! What a declaration reads and what it creates, named the same way by every operation, so
//! that `after(...)` can be checked at compile time: a declaration named there must create a
//! table or column this one uses.

use crate::sql::quote_ident;
use crate::table::Table;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Relations {
    /// Tables and columns that must exist before this declaration runs.
    pub uses: Vec<String>,
    /// Tables and columns this declaration creates (under their final names).
    pub provides: Vec<String>,
}

/// The name of a table, as relations list it.
pub fn table(table: &Table) -> String {
    table.sql()
}

/// The name of a column, as relations list it.
pub fn column(table: &Table, column: &str) -> String {
    format!("{}.{}", table.sql(), quote_ident(column))
}

/// The name of a type (`create_enum`'s), as relations list it: marked as a type, since a
/// table and a type may share a name.
pub fn type_name(schema: Option<&str>, name: &str) -> String {
    format!("type {}", zdm_plan::sql::qualified(schema, name))
}
