//! The rules a split declaration must follow, each reported at the token it is about:
//! a key of distinct names, at least two new tables with names of their own, and every
//! other column given to exactly one of them.

use super::{SplitTable, Target};
use crate::validate::{self, Errors};

impl SplitTable {
    /// The table and the key shared by every new table.
    pub(super) fn validate_key(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        let key = self.key();
        if let Some(written) = &self.key {
            if written.names.is_empty() {
                validate::push(
                    errors,
                    written.span,
                    "`key` is an empty list; name the primary-key column(s) every new table shares, such as key = \"id\"",
                );
            }
        }
        for (index, column) in key.iter().enumerate() {
            validate::identifier(errors, "key", column);
            if key[..index]
                .iter()
                .any(|earlier| earlier.as_str() == column.as_str())
            {
                validate::push(
                    errors,
                    column.span(),
                    format_args!("`{}` is given twice in `key`", column.as_str()),
                );
            }
        }
    }

    /// The new tables, and the columns each takes over.
    pub(super) fn validate_targets(&self, errors: &mut Errors) {
        if self.into.len() < 2 {
            let span = self
                .into
                .first()
                .map_or_else(|| self.table.span(), |target| target.table.span());
            validate::push(
                errors,
                span,
                format_args!(
                    "`split_table` needs at least two `into(table = \"…\", columns = [\"…\"])`, one per new table; found {}",
                    self.into.len()
                ),
            );
        }
        let key = self.key();
        // Each column, with the new table it was first listed in.
        let mut assigned: Vec<(&str, &str)> = Vec::new();
        for (index, target) in self.into.iter().enumerate() {
            self.validate_target(index, target, errors);
            let table = target.table.as_str();
        for column in &target.columns.names {
            let name = column.as_str();
            validate::identifier(errors, "columns", column);
            if key.iter().any(|key| key.as_str() == name) {
                validate::push(
                    errors,
                    column.span(),
                    format_args!(
                        "`{name}` is the key, which every new table gets; list only the other columns"
                    ),
                );
            } else if let Some((_, first)) = assigned.iter().find(|(seen, _)| *seen == name) {
                let message = if *first == table {
                    format!("`{name}` is listed twice in `into(table = \"{table}\")`")
                } else {
                    format!(
                        "`{name}` is already in `into(table = \"{first}\")`; each column goes to exactly one new table"
                    )
                };
                validate::push(errors, column.span(), message);
            } else {
                assigned.push((name, table));
            }
        }
        }
    }

    /// One new table: a valid name that neither the source nor another new table has, and
    /// columns to take over.
    fn validate_target(&self, index: usize, target: &Target, errors: &mut Errors) {
        let table = target.table.as_str();
        validate::table(errors, "into(table)", &target.table);
        if table == self.table.as_str() {
            validate::push(
                errors,
                target.table.span(),
                format_args!(
                    "`into(table = \"{table}\")` names the table being split; each new table needs a name of its own"
                ),
            );
        } else if self.into[..index]
            .iter()
            .any(|earlier| earlier.table.as_str() == table)
        {
            validate::push(
                errors,
                target.table.span(),
                format_args!("`{table}` is declared by two `into(…)`; list all its columns in one"),
            );
        }
        if target.columns.names.is_empty() {
            validate::push(
                errors,
                target.columns.span,
                format_args!(
                    "`columns` of `into(table = \"{table}\")` is empty; list the columns this table takes over"
                ),
            );
        }
    }
}
