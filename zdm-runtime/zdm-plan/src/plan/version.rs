//! How the new application version sees the tables a migration changes: through views of
//! the same names in the migration's version schema, selected by its `search_path`.
//!
//! The plan says only which columns the new version sees under another name or from
//! another column; the runner reads every other column from the catalog when it builds the
//! views, since the table's full column list is only known then.

use crate::{List, Text};

/// One table the migration changes, as the new version sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented {
    /// The table, as written in SQL (quoted; qualified when the declaration names its
    /// schema).
    pub table: Text,
    /// The columns the view shows differently from the table; every other column of the
    /// table is shown as it is.
    pub columns: List<PresentedColumn>,
    /// Columns of the table (unquoted) the view does not show: those the new version finds
    /// elsewhere (split_table's moved columns).
    pub hidden: List<Text>,
}

/// A column the new version sees under its final name while its value lives elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentedColumn {
    /// The name the new version uses (unquoted).
    pub name: Text,
    /// The table column (unquoted) whose place in the view it takes; the view does not show
    /// that column itself.
    pub instead_of: Text,
    /// The table column holding the value when expand ends (unquoted); when the table has
    /// no such column (a type changed in place, so none was added), `instead_of` itself.
    /// The view hides it from its own place, and a swap that drops it shows the column that
    /// takes its place instead, in the same transaction.
    pub source: Text,
}
