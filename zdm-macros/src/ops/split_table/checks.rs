//! What contract asks before it drops the source: nothing would be lost with it, and
//! nothing outside it still uses it.

use super::layout::Layout;
use crate::sql::quote_literal;
use zdm_plan::{Check, Lock, Step};

impl Layout {
    /// Contract drops the source: a column added to it since expand would be lost.
    pub(super) fn columns_check(&self) -> Step {
        let source_q = self.rel(&self.source);
        let names = self
            .all_columns()
            .iter()
            .map(|column| quote_literal(column))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = format!(
            "FROM pg_attribute WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped \
             AND attname::text <> ALL (ARRAY[{names}])",
            quote_literal(&source_q)
        );
        Step::check(
            format!("check that every column of {source_q} is in a new table"),
            Lock::None,
            None,
            Check::new(
                format!(
                    "every column of {source_q} in one of the new tables (a column added since expand would be \
                     lost with the table; split it with a migration of its own)"
                ),
                format!("SELECT count(*) {filter}"),
                format!("SELECT quote_ident(attname) {filter} ORDER BY attnum LIMIT 5"),
            ),
        )
    }

    /// Contract drops the source without CASCADE: foreign keys and views that use it must
    /// be pointed at the new tables first. The migration's own version view of it is not
    /// theirs: contract drops it in the transaction that drops the source.
    pub(super) fn dependents_check(&self) -> Step {
        let source_q = self.rel(&self.source);
        let source = quote_literal(&source_q);
        let version_schema = quote_literal(&self.version_schema);
        let dependents = format!(
            "SELECT format('foreign key %I of %s', c.conname, c.conrelid::regclass) AS what FROM pg_constraint c \
             WHERE c.contype = 'f' AND c.confrelid = to_regclass({source}) AND c.conrelid <> c.confrelid \
             UNION SELECT format('view %s', r.ev_class::regclass) FROM pg_depend d \
             JOIN pg_rewrite r ON r.oid = d.objid \
             WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             AND d.refobjid = to_regclass({source}) AND r.ev_class <> d.refobjid \
             AND NOT EXISTS (SELECT 1 FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace \
             WHERE v.oid = r.ev_class AND n.nspname = {version_schema})"
        );
        Step::check(
            format!("check that no foreign key or view outside {source_q} uses it"),
            Lock::None,
            None,
            Check::new(
                format!("no foreign key or view outside {source_q} using it (point them at the new tables first)"),
                format!("SELECT count(*) FROM ({dependents}) AS zdm_dependents"),
                format!("SELECT what FROM ({dependents}) AS zdm_dependents ORDER BY what LIMIT 5"),
            ),
        )
    }
}
