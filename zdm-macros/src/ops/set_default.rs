//! `set_default`: a column gets a new default. `SET DEFAULT` changes only the catalog and
//! never rewrites the table, whatever the default calls: a volatile default (`random()`,
//! `now()`) is evaluated per insert, as it would be for `add_column`'s decided default
//! once the column exists. It happens at expand, so the new version finds it as soon as it
//! runs; inserts of the old version that leave the column out get it too.
//!
//! Expand records the default it replaces (or that there was none) in the state schema, in
//! the same transaction, and its reversal puts exactly that back.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{self, with_recorded};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{calls_undecided_function, quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct SetDefault {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    default: SpannedValue<String>,
}

impl SetDefault {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "default"];
}

impl Operation for SetDefault {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![
                relations::table(&self.table()),
                relations::column(&self.table(), &self.column),
            ],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
        validate::expression(errors, "default", &self.default);
        if let Some(column) = crate::grammar::reads(&self.default).columns.first() {
            validate::push(
                errors,
                self.default.span(),
                format_args!(
                    "`default` reads the column `{column}`, and PostgreSQL evaluates a default before the row exists; \
                     give a constant or a function call such as `now()`"
                ),
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(id),
            PhasePlan::nothing("nothing to sync: a default applies to both versions' inserts"),
            PhasePlan::nothing("nothing to backfill: existing rows keep their values"),
            PhasePlan::nothing("nothing to contract: the default was set at expand"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl SetDefault {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn expand(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let column = self.column.as_str();
        let (table_q, column_q) = (table.sql(), quote_ident(column));
        let default = self.default.trim();
        let record = recorded::record(id);
        let mut change: Vec<String> = record.keep(DEFAULT, &current_default(&table_q, column)).into();
        change.push(format!(
            "ALTER TABLE {table_q} ALTER COLUMN {column_q} SET DEFAULT {default}"
        ));
        let evaluated = if calls_undecided_function(default) {
            "evaluated per insert, catalog only whatever it calls"
        } else {
            "catalog only"
        };
        let mut reverse = vec![restore_default(&record, &table, column)];
        reverse.push(record.forget());
        PhasePlan::new(
            format!("set the default of {table_q}.{column_q} to {default} ({evaluated}), recording the one it replaces in {record}"),
            vec![
                steps::table_exists(&table_q),
                steps::column_exists(&table_q, column, None),
                Step::transaction(
                    format!("record the default of {column_q} and set it to {default}"),
                    Lock::AccessExclusive,
                    &table_q,
                    change,
                ),
            ],
            reverse,
        )
    }
}

/// The record's item for a column's default.
pub const DEFAULT: &str = "default";

/// The column's default as `pg_get_expr` prints it (NULL when it has none).
pub fn current_default(table_q: &str, column: &str) -> String {
    format!(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a \
         ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = {} AND a.attname = {}",
        crate::ops::recorded::regclass(table_q),
        quote_literal(column)
    )
}

/// Puts the recorded default back: `SET DEFAULT` it, or `DROP DEFAULT` when there was none.
pub fn restore_default(record: &recorded::CatalogRecord, table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let body = format!(
        "  IF definition IS NULL THEN\n    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', {table_l}, {column_l});\n  \
         ELSE\n    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', {table_l}, {column_l}, definition);\n  END IF;",
        table_l = quote_literal(&table_q),
        column_l = quote_literal(column),
    );
    let mut statements: Vec<String> = record.load(DEFAULT).into();
    statements.push(with_recorded(&body));
    Step::transaction(
        format!("put back the default of {} recorded in {record}", quote_ident(column)),
        Lock::AccessExclusive,
        &table_q,
        statements,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| crate::testing::parse::<SetDefault>(tokens).validate(errors))
    }

    #[test]
    fn a_default_reading_a_column_is_refused() {
        assert!(messages(quote!(table = "t", column = "c", default = "now()")).is_empty());
        let errors = messages(quote!(table = "t", column = "c", default = "other + 1"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`default` reads the column `other`"), "{errors:?}");
    }

    #[test]
    fn expand_records_then_sets_and_its_reversal_restores() {
        let plan = crate::testing::parse::<SetDefault>(quote!(table = "t", column = "c", default = "42")).plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        let change = expand.forward.last().unwrap().statements();
        assert!(change[1].starts_with("INSERT INTO {state}.\"m_catalog\" (item, definition) SELECT 'default'"));
        assert_eq!(change[2], "ALTER TABLE \"t\" ALTER COLUMN \"c\" SET DEFAULT 42");
        let restore = expand.reverse[0].statements();
        assert!(restore[2].starts_with("DO $"), "{restore:?}");
        assert_eq!(expand.reverse[1].statements(), ["DROP TABLE IF EXISTS {state}.\"m_catalog\""]);
    }
}
