//! `add_column`: a new column, filled for existing rows and for rows the old application
//! version writes during the transition, optionally indexed and made NOT NULL.
//!
//! How the value reaches each row:
//! - a non-volatile `default` alone: `ADD COLUMN … DEFAULT` is catalog-only (PostgreSQL
//!   11+), existing rows read the default at once, and inserts of the old version get it
//!   too, so there is nothing to backfill;
//! - a volatile `default` (`gen_random_uuid()`, …): the column is added bare and the default
//!   set afterwards, both catalog-only; inserts get the default, existing rows are
//!   backfilled with it one batch at a time;
//! - a `backfill` expression of other columns: a sync trigger computes it for every row
//!   written with the column NULL, and the backfill computes it for existing rows. A
//!   `default` given beside it applies to inserts that leave the column out.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::steps::{self, FillWhen};
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{calls_volatile_function, quote_ident};
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Expectation, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddColumn {
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    ty: SpannedValue<String>,
    default: Option<SpannedValue<String>>,
    backfill: Option<SpannedValue<String>>,
    not_null: Flag,
    index: Flag,
}

/// How existing rows and rows written during the transition get their value.
#[derive(Debug, PartialEq, Eq)]
enum Fill<'a> {
    /// Nothing: the column stays NULL until the application writes it.
    Nothing,
    /// A default stored in the catalog: no backfill, no trigger.
    CatalogDefault(&'a str),
    /// A volatile default, evaluated per row by the backfill.
    VolatileDefault(&'a str),
    /// An expression of other columns, computed by trigger and backfill.
    Expression(&'a str),
}

impl Operation for AddColumn {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table)],
            provides: vec![relations::column(&self.table, &self.column)],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::identifier(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
        validate::type_name(errors, "ty", &self.ty);
        if let Some(default) = &self.default {
            validate::expression(errors, "default", default);
        }
        if let Some(backfill) = &self.backfill {
            validate::expression(errors, "backfill", backfill);
        }
        if self.not_null.is_present() && self.default.is_none() && self.backfill.is_none() {
            validate::push(
                errors,
                self.not_null.span(),
                "`not_null` needs a value for the rows that exist: add `default = \"…\"` or `backfill = \"…\"`",
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let table = self.table.as_str();
        let column = self.column.as_str();
        let table_q = quote_ident(table);
        let column_q = quote_ident(column);
        let ty = self.ty.trim();
        let fill = self.fill();
        let index = names::column_index(table, column);
        let trigger = steps::fill_trigger(
            table,
            column,
            self.backfill
                .as_deref()
                .map_or("NULL", |expression| expression.as_str()),
            FillWhen::Derived,
        );

        let mut add = vec![];
        match fill {
            Fill::CatalogDefault(default) => {
                add.push(format!(
                    "ALTER TABLE {table_q} ADD COLUMN {column_q} {ty} DEFAULT {default}"
                ));
            }
            _ => {
                add.push(format!("ALTER TABLE {table_q} ADD COLUMN {column_q} {ty}"));
                if let Some(default) = self.default.as_deref() {
                    add.push(format!(
                        "ALTER TABLE {table_q} ALTER COLUMN {column_q} SET DEFAULT {default}"
                    ));
                }
            }
        }
        let mut expand = PhasePlan {
            summary: format!("add the nullable column {table_q}.{column_q} {ty} (catalog only)").into(),
            forward: vec![
                Step::expect(Expectation::TableExists {
                    table: table_q.clone().into(),
                }),
                Step::expect(Expectation::ColumnAbsent {
                    table: table_q.clone().into(),
                    column: column.to_owned().into(),
                }),
                Step::transaction(
                    format!("add column {column_q} {ty}"),
                    Lock::AccessExclusive,
                    &table_q,
                    add,
                ),
            ]
            .into(),
            reverse: vec![].into(),
            reverse_discards: Some(format!("every value written to {table_q}.{column_q}").into()),
        };
        if self.index.is_present() {
            expand.forward.to_mut().push(steps::create_index(
                table,
                &index,
                &format!("({column_q})"),
                false,
            ));
            expand.reverse.to_mut().push(steps::drop_index(table, &index));
        }
        expand.reverse.to_mut().push(Step::transaction(
            format!("drop column {column_q}"),
            Lock::AccessExclusive,
            &table_q,
            vec![format!("ALTER TABLE {table_q} DROP COLUMN IF EXISTS {column_q}")],
        ));

        let sync = match fill {
            Fill::Expression(_) => PhasePlan {
                summary: format!("fill {column_q} on every write that leaves it NULL").into(),
                forward: vec![trigger.install(format!("install trigger {} computing {column_q}", quote_ident(&trigger.name)))].into(),
                reverse: vec![trigger.remove(format!("drop trigger {}", quote_ident(&trigger.name)))].into(),
                reverse_discards: None,
            },
            _ => PhasePlan {
                summary: "nothing to sync: the old version never writes the new column, and a default covers its inserts"
                    .to_owned().into(),
                ..PhasePlan::default()
            },
        };

        let backfill_value = match fill {
            Fill::Expression(expression) | Fill::VolatileDefault(expression) => Some(expression),
            Fill::Nothing | Fill::CatalogDefault(_) => None,
        };
        let backfill = match backfill_value {
            Some(value) => PhasePlan {
                summary: format!("fill {column_q} of existing rows in primary-key batches").into(),
                forward: vec![steps::backfill_nulls(table, column, value)].into(),
                reverse: vec![steps::reset_to_null(table, column)].into(),
                reverse_discards: Some(
                    format!(
                    "every value of {table_q}.{column_q}, including those the new version wrote (a rerun of \
                     backfill computes the others again)"
                )
                    .into(),
                ),
            },
            None => PhasePlan {
                summary: match fill {
                    Fill::CatalogDefault(_) => {
                        "nothing to backfill: existing rows read the default from the catalog"
                    }
                    _ => "nothing to backfill: the column starts NULL",
                }
                .to_owned()
                .into(),
                ..PhasePlan::default()
            },
        };

        let mut contract = PhasePlan::default();
        let mut done = vec![];
        if self.not_null.is_present() {
            contract
                .forward
                .to_mut()
                .extend(steps::set_not_null(table, column));
            contract
                .reverse
                .to_mut()
                .push(steps::drop_not_null(table, column));
            done.push(format!(
                "make {column_q} NOT NULL without a scan under ACCESS EXCLUSIVE"
            ));
        }
        if matches!(fill, Fill::Expression(_)) {
            contract
                .forward
                .to_mut()
                .push(trigger.remove(format!("drop trigger {}", quote_ident(&trigger.name))));
            contract.reverse.to_mut().insert(
                0,
                trigger.install(format!("reinstall trigger {}", quote_ident(&trigger.name))),
            );
            done.push("drop the sync trigger".to_owned());
        }
        contract.summary = if done.is_empty() {
            "nothing to contract".to_owned().into()
        } else {
            done.join(", then ").into()
        };

        Plan::new(id, Self::NAME, description, [expand, sync, backfill, contract])
    }
}

impl AddColumn {
    fn fill(&self) -> Fill<'_> {
        match (self.backfill.as_deref(), self.default.as_deref()) {
            (Some(expression), _) => Fill::Expression(expression),
            (None, Some(default)) if calls_volatile_function(default) => Fill::VolatileDefault(default),
            (None, Some(default)) => Fill::CatalogDefault(default),
            (None, None) => Fill::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::Action;

    fn parse(tokens: proc_macro2::TokenStream) -> AddColumn {
        crate::testing::parse(tokens)
    }

    fn messages(add_column: &AddColumn) -> Vec<String> {
        crate::testing::messages(|errors| add_column.validate(errors))
    }

    #[test]
    fn a_constant_default_is_catalog_only_with_nothing_to_backfill() {
        let plan = parse(quote!(
            table = "users",
            column = "verified",
            ty = "boolean",
            default = "false",
            not_null
        ))
        .plan("x", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[2].action,
            Action::Transaction(zdm_plan::texts(vec![
                "ALTER TABLE \"users\" ADD COLUMN \"verified\" boolean DEFAULT false".to_owned()
            ]))
        );
        assert!(plan.phase(zdm_plan::Phase::Sync).forward.is_empty());
        assert!(plan.phase(zdm_plan::Phase::Backfill).forward.is_empty());
        assert_eq!(plan.phase(zdm_plan::Phase::Contract).forward.len(), 4);
    }

    #[test]
    fn a_volatile_default_is_set_after_the_column_and_backfilled() {
        let plan = parse(quote!(
            table = "t",
            column = "token",
            ty = "uuid",
            default = "gen_random_uuid()"
        ))
        .plan("x", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[2].action,
            Action::Transaction(zdm_plan::texts(vec![
                "ALTER TABLE \"t\" ADD COLUMN \"token\" uuid".to_owned(),
                "ALTER TABLE \"t\" ALTER COLUMN \"token\" SET DEFAULT gen_random_uuid()".to_owned(),
            ]))
        );
        assert_eq!(plan.phase(zdm_plan::Phase::Backfill).forward.len(), 1);
    }

    #[test]
    fn an_expression_gets_a_trigger_that_the_contract_drops() {
        let plan = parse(quote!(
            table = "t",
            column = "email_lower",
            ty = "text",
            backfill = "lower(email)"
        ))
        .plan("x", "");
        assert_eq!(plan.phase(zdm_plan::Phase::Sync).forward.len(), 1);
        let Action::Transaction(statements) = &plan.phase(zdm_plan::Phase::Sync).forward[0].action else {
            panic!()
        };
        assert!(statements[0].contains("(SELECT (lower(email)) FROM (SELECT NEW.*) AS zdm_row)"));
        // An UPDATE that sets the column (the backfill's) calls no function.
        assert!(statements[2].contains(
            "BEFORE UPDATE ON \"t\" FOR EACH ROW WHEN (NEW.\"email_lower\" IS NOT DISTINCT FROM OLD.\"email_lower\")"
        ));
        assert!(
            statements[4].contains("BEFORE INSERT ON \"t\" FOR EACH ROW WHEN (NEW.\"email_lower\" IS NULL)")
        );
        assert_eq!(plan.phase(zdm_plan::Phase::Contract).forward.len(), 1);
    }

    #[test]
    fn not_null_without_a_value_is_refused() {
        let errors = messages(&parse(quote!(table = "t", column = "c", ty = "int", not_null)));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`not_null` needs a value"), "{errors:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let long = "x".repeat(64);
        let errors = messages(&parse(
            quote!(table = "", column = #long, ty = "strin", backfill = "a; b"),
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
