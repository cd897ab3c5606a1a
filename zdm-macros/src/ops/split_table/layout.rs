//! The names a split is built from, and the SQL fragments every statement of it shares:
//! key lists and comparisons, the columns in order, the new tables' outline.

use crate::sql::quote_ident;

/// The names a plan is built from, unquoted.
pub(super) struct Layout {
    /// The declared schema of every table of the split, if any.
    pub(super) schema: Option<String>,
    pub(super) source: String,
    pub(super) key: Vec<String>,
    pub(super) targets: Vec<(String, Vec<String>)>,
    /// The transaction-local setting that marks the sync's own writes.
    pub(super) guard: String,
    /// Trigger and function on the source.
    pub(super) forward_trigger: String,
    /// Function, and trigger on each new table.
    pub(super) back_trigger: String,
    /// The migration's version schema, whose view of the source the contract drops with it.
    pub(super) version_schema: String,
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
    /// A relation or function of the split's schema, as SQL names it: qualified when the
    /// schema is declared.
    pub(super) fn rel(&self, name: &str) -> String {
        crate::table::Table::new(self.schema.as_deref(), name).sql()
    }

    /// A table as a FROM item: qualified, and aliased to its bare name so that column
    /// references and `FOR KEY SHARE OF`, which takes no schema, name it alone.
    pub(super) fn aliased(&self, name: &str) -> String {
        match self.schema {
            Some(_) => format!("{} AS {}", self.rel(name), quote_ident(name)),
            None => quote_ident(name),
        }
    }

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
                    self.rel(table),
                    self.key_list(),
                    quoted(columns, ""),
                    self.key_list(),
                    self.rel(&self.source)
                )
            })
            .collect()
    }
}
