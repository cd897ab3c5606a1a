//! The four phases of a split, from its [`Layout`]: the new tables created at run time,
//! the sync triggers installed, the copy, and the source dropped with a record to rebuild
//! it from.

use super::layout::Layout;
use crate::ops::steps;
use crate::sql::{quote_ident, STATE_SCHEMA};
use zdm_plan::{Action, Lock, PhasePlan, Split, SplitOperation, SplitTarget, Step};

impl Layout {
    /// The new tables, quoted and comma-separated, as descriptions name them.
    fn target_list(&self) -> String {
        self.targets
            .iter()
            .map(|(table, _)| self.rel(table))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A run-time step over the tables of the split.
    fn split(&self, operation: SplitOperation, statements: Vec<String>, preview: Vec<String>) -> Action {
        Action::Split(Split {
            operation,
            schema: self.schema.clone().map(Into::into),
            source: self.source.clone().into(),
            key: zdm_plan::texts(self.key.clone()),
            targets: self
                .targets
                .iter()
                .map(|(table, columns)| SplitTarget {
                    table: table.clone().into(),
                    columns: zdm_plan::texts(columns.clone()),
                })
                .collect(),
            statements: zdm_plan::texts(statements),
            preview: zdm_plan::texts(preview),
        })
    }

    pub(super) fn expand(&self) -> PhasePlan {
        let source_q = self.rel(&self.source);
        let target_list = self.target_list();
        let mut forward = vec![steps::table_exists(&source_q)];
        forward.extend(
            self.targets
                .iter()
                .map(|(table, _)| steps::table_absent(&self.rel(table))),
        );
        forward.push(Step {
            description: format!(
                "create {target_list} with the key and columns of {source_q}, typed as in the catalog"
            )
            .into(),
            lock: Lock::AccessShare,
            table: Some(source_q.clone().into()),
            action: self.split(SplitOperation::CreateTargets, vec![], self.create_preview()),
        });
        let reverse = self
            .targets
            .iter()
            .map(|(table, _)| {
                let table_q = self.rel(table);
                Step::transaction(
                    format!("drop table {table_q}"),
                    Lock::AccessExclusive,
                    &table_q,
                    [format!("DROP TABLE IF EXISTS {table_q}")],
                )
            })
            .collect();
        PhasePlan::new(
            format!(
                "create {target_list}, each with the primary key of {source_q} and its share of the columns \
                 (types, collations, NOT NULL and defaults read from the catalog)"
            ),
            forward,
            reverse,
        )
    }

    pub(super) fn sync(&self) -> PhasePlan {
        let source_q = self.rel(&self.source);
        let target_list = self.target_list();
        let mut remove_and_empty = self.remove_statements();
        remove_and_empty.push(format!("TRUNCATE {target_list}"));
        PhasePlan::new(
            format!(
                "sync both ways: writes to {source_q} reach {target_list} at once, writes to {target_list} \
                 reach {source_q} when their transaction commits"
            ),
            vec![Step::transaction(
                format!(
                    "install trigger {} on {source_q} and deferred trigger {} on {target_list}",
                    quote_ident(&self.forward_trigger),
                    quote_ident(&self.back_trigger)
                ),
                Lock::ShareRowExclusive,
                &source_q,
                self.install_statements(),
            )],
            vec![Step::transaction(
                format!("drop the sync triggers and empty {target_list}, which would go stale without them"),
                Lock::AccessExclusive,
                &source_q,
                remove_and_empty,
            )],
        )
    }

    pub(super) fn backfill(&self) -> PhasePlan {
        let source_q = self.rel(&self.source);
        let target_list = self.target_list();
        PhasePlan::new(
            format!(
                "copy the rows of {source_q} into {target_list} in primary-key batches, keeping rows the \
                 sync wrote since"
            ),
            vec![Step::backfill(
                format!("copy each batch of {source_q} into {target_list} (ON CONFLICT DO NOTHING)"),
                &source_q,
                self.backfill_statements(),
            )],
            // The copied rows are kept right by the sync like any other; they go when sync is
            // reverted.
            vec![],
        )
    }

    pub(super) fn contract(&self) -> PhasePlan {
        let source_q = self.rel(&self.source);
        let summary =
            format!("record how to rebuild {source_q}, drop the sync triggers and drop {source_q}");
        let mut reverse = vec![self.restore_source()];
        reverse.extend((0..self.targets.len()).map(|index| {
            let table_q = self.rel(&self.targets[index].0);
            Step::backfill(
                format!("copy each batch of {table_q} back into {source_q}"),
                &table_q,
                [self.refill_statement(index)],
            )
        }));
        PhasePlan::new(
            summary,
            vec![self.columns_check(), self.dependents_check(), self.drop_source()],
            reverse,
        )
    }

    /// Drops the source, after recording how to rebuild it and handing its sequences on.
    fn drop_source(&self) -> Step {
        let source_q = self.rel(&self.source);
        let first_target_q = self.rel(&self.targets[0].0);
        Step {
            description: format!(
                "record how to rebuild {source_q}, drop the sync triggers and drop {source_q}"
            )
            .into(),
            lock: Lock::AccessExclusive,
            table: Some(source_q.clone().into()),
            action: self.split(
                SplitOperation::DropSource,
                self.remove_statements(),
                vec![
                    format!(
                        "INSERT INTO {STATE_SCHEMA}.split_snapshots … -- the CREATE TABLE of {source_q} and its \
                         constraints, indexes, sequence ownership and grants, as the catalog has them"
                    ),
                    format!(
                        "ALTER SEQUENCE … OWNED BY {first_target_q}.… -- each sequence {source_q} owns, \
                         to the first new table with its column"
                    ),
                    format!("DROP TABLE {source_q}"),
                ],
            ),
        }
    }

    /// Undoes [`Layout::drop_source`]: the source rebuilt from its record, with the triggers.
    fn restore_source(&self) -> Step {
        let source_q = self.rel(&self.source);
        Step {
            description: format!(
                "rebuild {source_q} from the record contract kept, and reinstall the sync triggers"
            )
            .into(),
            lock: Lock::AccessExclusive,
            table: Some(self.rel(&self.targets[0].0).into()),
            action: self.split(
                SplitOperation::RestoreSource,
                self.install_statements(),
                vec![format!(
                    "-- unless {source_q} exists: the statements recorded in {STATE_SCHEMA}.split_snapshots by contract \
                     (CREATE TABLE, constraints, indexes, sequence ownership, grants)"
                )],
            ),
        }
    }
}
