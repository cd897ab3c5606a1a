//! The names a split is built from, and the SQL fragments every statement of it shares:
//! key lists and comparisons, the columns in order, the new tables' outline.

use crate::sql::quote_ident;

/// The names a plan is built from, unquoted.
pub(super) struct Layout {
    pub(super) source: String,
    pub(super) key: Vec<String>,
    pub(super) targets: Vec<(String, Vec<String>)>,
    /// The transaction-local setting that marks the sync's own writes.
    pub(super) guard: String,
    /// Trigger and function on the source.
    pub(super) forward_trigger: String,
    /// Function, and trigger on each new table.
    pub(super) back_trigger: String,
}

pub(super) fn quoted(names: &[String], prefix: &str) -> String {
    names
        .iter()
        .map(|name| format!("{prefix}{}", quote_ident(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"c" = source."c", …`: each column set from the row `source` names.
pub(super) fn assignments(columns: &[String], source: &str) -> String {
    columns
        .iter()
        .map(|column| {
            let column = quote_ident(column);
            format!("{column} = {source}.{column}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Layout {
    pub(super) fn key_list(&self) -> String {
        quoted(&self.key, "")
    }

    /// `(prefix"k1", …) = (record."k1", …)`.
    pub(super) fn key_matches(&self, prefix: &str, record: &str) -> String {
        format!(
            "({}) = ({})",
            quoted(&self.key, prefix),
            quoted(&self.key, &format!("{record}."))
        )
    }

    pub(super) fn all_columns(&self) -> Vec<String> {
        self.key
            .iter()
            .chain(self.targets.iter().flat_map(|(_, columns)| columns))
            .cloned()
            .collect()
    }

    pub(super) fn create_preview(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|(table, columns)| {
                format!(
                    "CREATE TABLE {} ({}, {}, PRIMARY KEY ({})) -- each column typed, collated, NOT NULL \
                     and defaulted as in {}",
                    quote_ident(table),
                    self.key_list(),
                    quoted(columns, ""),
                    self.key_list(),
                    quote_ident(&self.source)
                )
            })
            .collect()
    }
}
