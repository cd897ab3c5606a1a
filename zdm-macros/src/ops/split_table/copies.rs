//! The batched copies of a split: the source's rows into the new tables (backfill), and
//! the new tables' rows back into a rebuilt source (contract's reversal).

use super::layout::{quoted, Layout};
use crate::sql::{quote_ident, quote_literal};

impl Layout {
    /// `, (SELECT set_config(guard, 'on', true)) AS …`: joined to a copy's rows, it marks
    /// the batch's writes as the sync's own before the first row is written.
    fn guard_join(&self) -> String {
        format!(
            ", (SELECT set_config({}, 'on', true) AS zdm_split_guard) AS zdm_split_guard",
            quote_literal(&self.guard)
        )
    }

    /// One statement per new table, over a batch of the source. Rows the new table already
    /// has (written by the sync) are left out: they are neither overwritten nor locked.
    /// `FOR KEY SHARE` on the others makes a delete or key change of a row being copied
    /// wait for the batch, so that the trigger's delete sees the copy.
    pub(super) fn backfill_statements(&self) -> Vec<String> {
        let source_q = quote_ident(&self.source);
        let source_from = self.aliased(&self.source);
        self.targets
            .iter()
            .map(|(table, columns)| {
                let table_rel = self.rel(table);
                let all: Vec<String> = self.key.iter().chain(columns).cloned().collect();
                format!(
                    "INSERT INTO {table_rel} ({}) SELECT {} FROM {source_from}{} WHERE {{range}} \
                     AND NOT EXISTS (SELECT 1 FROM {table_rel} AS zdm_copied WHERE {}) \
                     FOR KEY SHARE OF {source_q} ON CONFLICT ({}) DO NOTHING",
                    quoted(&all, ""),
                    quoted(&all, &format!("{source_q}.")),
                    self.guard_join(),
                    self.key_matches("zdm_copied.", &source_q),
                    self.key_list(),
                )
            })
            .collect()
    }

    /// Copies the rows of new table `index` back into the source, joined with the tables
    /// after it; keys present in an earlier table were copied by its pass, keys already in
    /// the source were written there by the sync.
    pub(super) fn refill_statement(&self, index: usize) -> String {
        let source_rel = self.rel(&self.source);
        let (table, _) = &self.targets[index];
        let table_q = quote_ident(table);
        let table_from = self.aliased(table);
        let values = self
            .key
            .iter()
            .map(|key| quote_ident(key))
            .chain(
                self.targets
                    .iter()
                    .enumerate()
                    .flat_map(|(other, (other_table, columns))| {
                        let other_q = quote_ident(other_table);
                        columns.iter().map(move |column| {
                            if other < index {
                                "NULL".to_owned()
                            } else {
                                format!("{other_q}.{}", quote_ident(column))
                            }
                        })
                    }),
            )
            .collect::<Vec<_>>()
            .join(", ");
        let joins: String = self.targets[index + 1..]
            .iter()
            .map(|(other, _)| format!(" LEFT JOIN {} USING ({})", self.aliased(other), self.key_list()))
            .collect();
        let done: String = self.targets[..index]
            .iter()
            .map(|(other, _)| {
                format!(
                    " AND NOT EXISTS (SELECT 1 FROM {} AS zdm_done WHERE {})",
                    self.rel(other),
                    self.key_matches("zdm_done.", &table_q)
                )
            })
            .collect();
        format!(
            "INSERT INTO {source_rel} ({}) SELECT {values} FROM {table_from}{joins}{} WHERE {{range}}{done} \
             AND NOT EXISTS (SELECT 1 FROM {source_rel} AS zdm_copied WHERE {}) \
             FOR KEY SHARE OF {table_q} ON CONFLICT ({}) DO NOTHING",
            quoted(&self.all_columns(), ""),
            self.guard_join(),
            self.key_matches("zdm_copied.", &table_q),
            self.key_list(),
        )
    }
}
