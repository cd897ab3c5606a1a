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
//! - a `default` calling a function only the catalog can judge (one of the user's): expand
//!   asks the catalog whether any function of that name is volatile and takes one of the two
//!   ways above; the backfill then finds NULLs to fill only in the volatile case;
//! - a `backfill` expression of other columns: a sync trigger computes it for every row
//!   written with the column NULL, and the backfill computes it for existing rows. A
//!   `default` given beside it applies to inserts that leave the column out.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::steps::{self, FillWhen, Trigger, Writes};
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::sql::{calls_undecided_function, calls_volatile_function, dollar_quote, embedded, quote_ident, quote_literal};
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddColumn {
    schema: Option<SpannedValue<String>>,
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
    /// A default whose volatility the catalog decides at expand: stored in the catalog, or
    /// set after the column and evaluated per row by the backfill.
    DecidedDefault(&'a str),
    /// An expression of other columns, computed by trigger and backfill.
    Expression(&'a str),
}

impl AddColumn {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "ty", "default", "backfill", "not_null", "index"];
}

impl Operation for AddColumn {
    /// Filling the column (a sync trigger and a backfill) or making it NOT NULL changes it
    /// beyond adding it.
    fn footprint(&self) -> Footprint {
        let mut footprint = Footprint::of(self.relations());
        if self.backfill.is_some() || self.not_null.is_present() {
            footprint.changes.push(relations::column(&self.table(), &self.column));
        }
        footprint
    }

    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: vec![relations::column(&self.table(), &self.column)],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
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
        let phases = [self.expand(), self.sync(), self.backfill(id), self.contract()];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddColumn {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn fill(&self) -> Fill<'_> {
        match (self.backfill.as_deref(), self.default.as_deref()) {
            (Some(expression), _) => Fill::Expression(expression),
            (None, Some(default)) if calls_volatile_function(default) => Fill::VolatileDefault(default),
            (None, Some(default)) if calls_undecided_function(default) => Fill::DecidedDefault(default),
            (None, Some(default)) => Fill::CatalogDefault(default),
            (None, None) => Fill::Nothing,
        }
    }

    /// The sync trigger of a `backfill` expression.
    fn trigger(&self) -> Trigger {
        let expression = self.backfill.as_deref().map_or("NULL", String::as_str);
        steps::fill_trigger(&self.table(), &self.column, expression, FillWhen::Derived)
    }

    /// `ADD COLUMN`, with a default that is catalog-only, or set after the column so that
    /// a volatile one is not evaluated for every existing row.
    fn add_statements(&self) -> Vec<String> {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let ty = self.ty.trim();
        if let Fill::CatalogDefault(default) = self.fill() {
            let default = embedded(default);
            return vec![format!("ALTER TABLE {table_q} ADD COLUMN {column_q} {ty} DEFAULT {default}")];
        }
        if let Fill::DecidedDefault(default) = self.fill() {
            return vec![decided_add(&table_q, &column_q, ty, default)];
        }
        let mut add = vec![format!("ALTER TABLE {table_q} ADD COLUMN {column_q} {ty}")];
        if let Some(default) = self.default.as_deref().map(String::as_str).map(embedded) {
            add.push(format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} SET DEFAULT {default}"));
        }
        add
    }

    /// The check of what a `backfill` reads, which the trigger and the backfill compute. A
    /// default needs none: one that goes into `ADD COLUMN` calls only built-ins known not to
    /// be volatile, and any other is decided by the catalog when the column is added.
    fn fragment_reads(&self, table_q: &str) -> Vec<Step> {
        match self.fill() {
            Fill::Expression(expression) => steps::fragment_reads(table_q, "backfill", expression),
            Fill::CatalogDefault(_) | Fill::VolatileDefault(_) | Fill::DecidedDefault(_) | Fill::Nothing => None,
        }
        .into_iter()
        .collect()
    }

    fn expand(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let table_q = table.sql();
        let column_q = quote_ident(column);
        let ty = self.ty.trim();
        let mut forward = vec![steps::table_exists(&table_q)];
        forward.extend(self.fragment_reads(&table_q));
        forward.extend([
            steps::column_absent(&table_q, column),
            Step::transaction(
                match self.fill() {
                    Fill::DecidedDefault(_) => format!(
                        "add column {column_q} {ty}, its default stored in the catalog unless the catalog says a \
                         function it calls is volatile; then set after the column, for the backfill to fill old rows"
                    ),
                    _ => format!("add column {column_q} {ty}"),
                },
                Lock::AccessExclusive,
                &table_q,
                self.add_statements(),
            ),
        ]);
        let mut reverse = vec![];
        if self.index.is_present() {
            let index = names::column_index(table.name(), column);
            forward.push(steps::create_index(table, &index, &format!("({column_q})"), false));
            reverse.push(steps::drop_index(table, &index));
        }
        reverse.push(steps::drop_column(table, column));
        PhasePlan::new(
            format!("add the nullable column {table_q}.{column_q} {ty} (catalog only)"),
            forward,
            reverse,
        )
        .discarding(format!("every value written to {table_q}.{column_q}"))
    }

    fn sync(&self) -> PhasePlan {
        let Fill::Expression(_) = self.fill() else {
            return PhasePlan::nothing(
                "nothing to sync: the old version never writes the new column, and a default covers its inserts",
            );
        };
        let column_q = quote_ident(&self.column);
        let trigger = self.trigger();
        let trigger_q = quote_ident(&trigger.name);
        PhasePlan::new(
            format!("fill {column_q} on every write that leaves it NULL"),
            vec![trigger.install(format!("install trigger {trigger_q} computing {column_q}"))],
            vec![trigger.remove(format!("drop trigger {trigger_q}"))],
        )
    }

    fn backfill(&self, id: &str) -> PhasePlan {
        // Only a `backfill` expression has a trigger computing it on every write; a
        // volatile default reaches inserts alone, so an updated row may stay NULL.
        let (value, writes) = match self.fill() {
            Fill::Expression(expression) => (expression, Writes::Filled),
            Fill::VolatileDefault(default) => (default, Writes::LeftNull),
            Fill::DecidedDefault(default) => return self.decided_backfill(id, default),
            Fill::CatalogDefault(_) => {
                return PhasePlan::nothing("nothing to backfill: existing rows read the default from the catalog")
            }
            Fill::Nothing => return PhasePlan::nothing("nothing to backfill: the column starts NULL"),
        };
        let (table, column) = (&self.table(), self.column.as_str());
        let table_q = table.sql();
        let column_q = quote_ident(column);
        PhasePlan::new(
            format!("fill {column_q} of existing rows in batches"),
            vec![steps::backfill_nulls(table, column, value, writes)],
            vec![steps::reset_to_null(table, column)],
        )
        .discarding(format!(
            "every value of {table_q}.{column_q}, including those the new version wrote (a rerun of \
             backfill computes the others again)"
        ))
    }

    /// The backfill of a default the catalog decided at expand: the rows it fills are
    /// recorded, since with a default stored in the catalog the rows hold it already and a
    /// reversal must not take it from them.
    fn decided_backfill(&self, id: &str, default: &str) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let column_q = quote_ident(column);
        let record = steps::fill_record(id);
        PhasePlan::new(
            format!(
                "fill {column_q} of existing rows in primary-key batches where expand set the default after the \
                 column (a volatile default); a default stored in the catalog left no NULL to fill"
            ),
            steps::backfill_nulls_recorded(table, column, default, &record, Writes::LeftNull),
            steps::unfill_recorded(table, column, &record, None),
        )
    }

    fn contract(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let (mut forward, mut reverse, mut done) = (vec![], vec![], vec![]);
        if self.not_null.is_present() {
            forward.extend(steps::set_not_null(table, column));
            reverse.push(steps::drop_not_null(table, column));
            done.push(format!(
                "make {} NOT NULL without a scan under ACCESS EXCLUSIVE",
                quote_ident(column)
            ));
        }
        if let Fill::Expression(_) = self.fill() {
            let trigger = self.trigger();
            let trigger_q = quote_ident(&trigger.name);
            forward.push(trigger.remove(format!("drop trigger {trigger_q}")));
            reverse.insert(0, trigger.install(format!("reinstall trigger {trigger_q}")));
            done.push("drop the sync trigger".to_owned());
        }
        let summary = if done.is_empty() {
            "nothing to contract".to_owned()
        } else {
            done.join(", then ")
        };
        PhasePlan::new(summary, forward, reverse)
    }
}

/// `ADD COLUMN` with a default that calls functions only the catalog can judge, in one DO
/// block: when a function of one of those names on the search path is volatile, PostgreSQL
/// would evaluate the default for every row and rewrite the table under ACCESS EXCLUSIVE,
/// so the column is added bare and the default set after it (the backfill fills the rows);
/// otherwise the default is stored in the catalog and no row is rewritten or backfilled.
fn decided_add(table_q: &str, column_q: &str, ty: &str, default: &str) -> String {
    let names = crate::grammar::reads(default)
        .functions
        .iter()
        .map(|name| quote_literal(name))
        .collect::<Vec<_>>()
        .join(", ");
    let default = embedded(default);
    format!(
        "DO {}",
        dollar_quote(&format!(
            "\n\
             BEGIN\n\
             \x20 IF EXISTS (\n\
             \x20   SELECT 1 FROM unnest(ARRAY[{names}]::text[]) AS f(written)\n\
             \x20   CROSS JOIN LATERAL parse_ident(f.written) AS parts\n\
             \x20   JOIN pg_proc p ON p.proname = parts[cardinality(parts)]\n\
             \x20   JOIN pg_namespace n ON n.oid = p.pronamespace\n\
             \x20   WHERE p.provolatile = 'v'\n\
             \x20     AND CASE WHEN cardinality(parts) > 1 THEN n.nspname = parts[cardinality(parts) - 1]\n\
             \x20              ELSE n.nspname = ANY (current_schemas(true)) END)\n\
             \x20 THEN\n\
             \x20   ALTER TABLE {table_q} ADD COLUMN {column_q} {ty};\n\
             \x20   ALTER TABLE {table_q} ALTER COLUMN {column_q} SET DEFAULT {default};\n\
             \x20 ELSE\n\
             \x20   ALTER TABLE {table_q} ADD COLUMN {column_q} {ty} DEFAULT {default};\n\
             \x20 END IF;\n\
             END\n"
        ))
    )
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
                "ALTER TABLE \"users\" ADD COLUMN \"verified\" boolean DEFAULT (false)".to_owned()
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
                "ALTER TABLE \"t\" ALTER COLUMN \"token\" SET DEFAULT (gen_random_uuid())".to_owned(),
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
    fn a_declared_schema_is_one_name() {
        let errors = messages(&parse(quote!(schema = "", table = "t", column = "c", ty = "int")));
        assert_eq!(errors, ["`schema` is empty"]);
        let plan = parse(quote!(schema = "a.b", table = "t", column = "c", ty = "int")).plan("x", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[2].action,
            Action::Transaction(zdm_plan::texts(vec!["ALTER TABLE \"a.b\".\"t\" ADD COLUMN \"c\" int".to_owned()]))
        );
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
