//! `add_foreign_key`: a column (new, or one that exists) made a foreign key without a
//! full-table scan under a lock that blocks writes.
//!
//! The column is added nullable and indexed concurrently in expand, so the referenced
//! table's deletes can find referencing rows without a scan once the constraint exists.
//! With `backfill`, a sync trigger computes it for rows written without it and the backfill
//! computes it for existing rows. The contract counts orphans (showing a few) before any
//! lock is taken, adds the constraint `NOT VALID` (catalog only), validates it in a
//! transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes go on), and with
//! `not_null` makes the column NOT NULL through a validated check.
//!
//! Why the constraint is added in the contract and not in expand: a foreign key acts on
//! the referenced table too. Added while the old version still runs, it would change
//! what that version's deletes of referenced rows do (refused with `no action`/`restrict`,
//! cascading with `cascade`), which the old version was never written for; and the
//! backfill would fail on the first orphan half-way through instead of a precondition
//! reporting all of them. Nothing is lost by waiting: the old version never writes the
//! new column (a NULL passes a foreign key anyway), and the contract's orphan check
//! catches whatever the transition let through before the constraint exists.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::steps::{self, FillWhen, Trigger, Writes};
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::sql::{closest, quote_ident};
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Expectation, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddForeignKey {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    /// The referenced table's schema, when it is not the table's own.
    references_schema: Option<SpannedValue<String>>,
    references: SpannedValue<String>,
    referenced_column: Option<SpannedValue<String>>,
    ty: Option<SpannedValue<String>>,
    backfill: Option<SpannedValue<String>>,
    on_delete: Option<SpannedValue<String>>,
    on_update: Option<SpannedValue<String>>,
    not_null: Flag,
    existing_column: Flag,
}

/// The referential actions, as the user writes them and as SQL spells them.
const ACTIONS: &[(&str, &str)] = &[
    ("cascade", "CASCADE"),
    ("set null", "SET NULL"),
    ("set default", "SET DEFAULT"),
    ("restrict", "RESTRICT"),
    ("no action", "NO ACTION"),
];

/// `value` in lower case with single spaces, as [`ACTIONS`] lists it.
fn normalized(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// The SQL of a referential action, if `value` names one.
fn action_sql(value: &str) -> Option<&'static str> {
    let value = normalized(value);
    ACTIONS
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, sql)| *sql)
}

impl AddForeignKey {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "references_schema", "references", "referenced_column", "ty", "backfill", "on_delete", "on_update", "not_null", "existing_column"];
}

impl Operation for AddForeignKey {
    /// A fix-up of the referencing values fills the column with a sync trigger and a backfill.
    fn footprint(&self) -> Footprint {
        let mut footprint = Footprint::of(self.relations());
        if self.trigger().is_some() {
            footprint.changes.push(relations::column(&self.table(), &self.column));
        }
        footprint
    }

    fn relations(&self) -> Relations {
        let referenced_column = self
            .referenced_column
            .as_deref()
            .map_or("id", |column| column.as_str());
        let mut uses = vec![
            relations::table(&self.table()),
            relations::table(&self.references()),
            relations::column(&self.references(), referenced_column),
        ];
        let mut provides = Vec::new();
        if self.existing_column.is_present() {
            uses.push(relations::column(&self.table(), &self.column));
        } else {
            provides.push(relations::column(&self.table(), &self.column));
        }
        Relations { uses, provides }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
        validate::schema(errors, "references_schema", &self.references_schema);
        validate::table(errors, "references", &self.references);
        if let Some(referenced_column) = &self.referenced_column {
            validate::identifier(errors, "referenced_column", referenced_column);
        }
        if let Some(ty) = &self.ty {
            validate::type_name(errors, "ty", ty);
        }
        if let Some(backfill) = &self.backfill {
            validate::expression(errors, "backfill", backfill);
        }
        if self.is_new_column() && self.ty.is_none() {
            validate::push(
                errors,
                self.column.span(),
                format_args!(
                    "`add_foreign_key` adds the column `{}`, so it needs its type, such as `ty = \"bigint\"` \
                     (the referenced column's type); if the column exists already, add `existing_column`",
                    self.column.as_str()
                ),
            );
        }
        for (key, value) in [("on_delete", &self.on_delete), ("on_update", &self.on_update)] {
            let Some(value) = value else { continue };
            if action_sql(value).is_none() {
                let names = ACTIONS.iter().map(|(name, _)| *name).collect::<Vec<_>>();
                let mut message = format!(
                    "`{key}` is \"{}\"; expected one of {}",
                    value.as_str(),
                    names
                        .iter()
                        .map(|name| format!("\"{name}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if let Some(suggestion) = closest(&normalized(value).replace('_', " "), &names) {
                    message.push_str(&format!("; did you mean \"{suggestion}\"?"));
                }
                validate::push(errors, value.span(), message);
            } else if self.not_null.is_present() && action_sql(value) == Some("SET NULL") {
                validate::push(
                    errors,
                    value.span(),
                    format_args!(
                        "`{key} = \"set null\"` contradicts `not_null`: it would set `{}` to NULL, which NOT NULL \
                         refuses; choose another action or remove `not_null`",
                        self.column.as_str()
                    ),
                );
            }
        }
        if self.not_null.is_present() && self.is_new_column() && self.backfill.is_none() {
            validate::push(
                errors,
                self.not_null.span(),
                format_args!(
                    "`not_null` needs a value for the rows that exist: the new column `{}` starts NULL; \
                     add `backfill = \"…\"`",
                    self.column.as_str()
                ),
            );
        }
        if self.table.as_str() == self.references.as_str() && self.column.as_str() == self.referenced_column()
        {
            validate::push(
                errors,
                self.column.span(),
                format_args!(
                    "`{}` cannot reference itself; set `referenced_column` to the column it points to",
                    self.column.as_str()
                ),
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [self.expand(), self.sync(), self.backfill(id), self.contract()];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddForeignKey {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The referenced table: in `references_schema`, else in the table's own schema.
    fn references(&self) -> Table {
        let schema = self.references_schema.as_ref().or(self.schema.as_ref());
        Table::new(schema.map(|schema| schema.as_str()), &self.references)
    }

    fn referenced_column(&self) -> &str {
        self.referenced_column.as_deref().map_or("id", String::as_str)
    }

    fn is_new_column(&self) -> bool {
        !self.existing_column.is_present()
    }

    fn ty(&self) -> Option<&str> {
        self.ty.as_deref().map(|ty| ty.trim())
    }

    fn constraint(&self) -> String {
        names::foreign_key(&self.table, &self.column)
    }

    /// The sync trigger of a `backfill` expression. A new column follows its expression for
    /// every write of the old version; an existing one is maintained by the application
    /// already, so only its gaps are filled.
    fn trigger(&self) -> Option<Trigger> {
        let when = if self.is_new_column() {
            FillWhen::Derived
        } else {
            FillWhen::LeftNull
        };
        let expression = self.backfill.as_deref()?;
        Some(steps::fill_trigger(&self.table(), &self.column, expression, when))
    }

    /// What expand checks before any change: the column's state, the referenced key, the
    /// constraint's name.
    fn expectations(&self) -> Vec<Step> {
        let column = self.column.as_str();
        let table_q = self.table().sql();
        let mut expect = vec![steps::table_exists(&table_q)];
        if let Some(backfill) = self.backfill.as_deref() {
            expect.extend(steps::fragment_reads(&table_q, "backfill", backfill));
        }
        if self.is_new_column() {
            expect.push(steps::column_absent(&table_q, column));
        } else {
            expect.push(steps::column_exists(&table_q, column, self.ty()));
            if self.not_null.is_present() {
                // Reverting the contract drops NOT NULL, which must not undo a NOT NULL
                // that was there before.
                expect.push(steps::column_nullable(&table_q, column));
            }
        }
        expect.push(Step::expect(Expectation::ForeignKeyTarget {
            table: table_q.clone().into(),
            column: column.to_owned().into(),
            ty: self.ty().map(|ty| ty.to_owned().into()),
            references: self.references().sql().into(),
            referenced_column: self.referenced_column().to_owned().into(),
        }));
        expect.push(steps::constraint_absent(&table_q, &self.constraint()));
        expect
    }

    fn expand(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let table_q = table.sql();
        let column_q = quote_ident(column);
        let index = names::column_index(table.name(), column);
        let mut forward = self.expectations();
        let mut reverse = vec![steps::drop_index(table, &index)];
        let ty = self.ty().filter(|_| self.is_new_column());
        if let Some(ty) = ty {
            forward.push(Step::transaction(
                format!("add column {column_q} {ty}"),
                Lock::AccessExclusive,
                &table_q,
                [format!("ALTER TABLE {table_q} ADD COLUMN {column_q} {ty}")],
            ));
        }
        forward.push(steps::create_index(table, &index, &format!("({column_q})"), false));
        if !self.is_new_column() {
            return PhasePlan::new(format!("index {table_q}.{column_q} concurrently"), forward, reverse);
        }
        reverse.push(steps::drop_column(table, column));
        PhasePlan::new(
            format!(
                "add the nullable column {table_q}.{column_q} {} (catalog only) and index it concurrently",
                ty.unwrap_or_default()
            ),
            forward,
            reverse,
        )
        .discarding(format!("every value written to {table_q}.{column_q}"))
    }

    fn sync(&self) -> PhasePlan {
        let column_q = quote_ident(&self.column);
        let Some(trigger) = self.trigger() else {
            return PhasePlan::nothing(format!(
                "nothing to sync: no `backfill`, so {column_q} is written by the new version only"
            ));
        };
        let name_q = quote_ident(&trigger.name);
        let summary = if self.is_new_column() {
            format!("compute {column_q} on every write that does not set it")
        } else {
            format!("fill {column_q} on every write that leaves it NULL")
        };
        PhasePlan::new(
            summary,
            vec![trigger.install(format!("install trigger {name_q} computing {column_q}"))],
            vec![trigger.remove(format!("drop trigger {name_q}"))],
        )
    }

    fn backfill(&self, id: &str) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let column_q = quote_ident(column);
        let Some(value) = self.backfill.as_deref() else {
            return PhasePlan::nothing("nothing to backfill: no `backfill` declared");
        };
        if self.is_new_column() {
            return PhasePlan::new(
                format!("fill {column_q} of existing rows in batches"),
                vec![steps::backfill_nulls(table, column, value, Writes::Filled)],
                vec![steps::reset_to_null(table, column)],
            )
            .discarding(format!(
                "every value of {}.{column_q}, including those the new version wrote",
                table.sql()
            ));
        }
        let record = steps::fill_record(id);
        PhasePlan::new(
            format!("fill the NULLs of {column_q} in batches, recording the rows filled in {record}"),
            steps::backfill_nulls_recorded(table, column, value, &record, Writes::Filled),
            steps::unfill_recorded(table, column, &record, None),
        )
    }

    /// Counts the rows whose value the referenced table lacks, before any lock is taken.
    fn orphans_check(&self) -> Step {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let references_q = self.references().sql();
        let referenced_q = quote_ident(self.referenced_column());
        let orphan = format!(
            "zdm_row.{column_q} IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM {references_q} AS zdm_ref WHERE zdm_ref.{referenced_q} = zdm_row.{column_q})"
        );
        Step::check(
            format!("check that every {table_q}.{column_q} is NULL or present in {references_q}.{referenced_q}"),
            Lock::AccessShare,
            Some(&table_q),
            Check::new(
                format!("every non-NULL {table_q}.{column_q} present in {references_q}.{referenced_q}"),
                format!("SELECT count(*) FROM {table_q} AS zdm_row WHERE {orphan}"),
                format!("SELECT zdm_row::text FROM {table_q} AS zdm_row WHERE {orphan} LIMIT 5"),
            ),
        )
    }

    /// `ADD CONSTRAINT … NOT VALID` (catalog only), then its validation in a transaction of
    /// its own, which lets reads and writes go on.
    fn add_constraint(&self) -> [Step; 2] {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let references_q = self.references().sql();
        let referenced_q = quote_ident(self.referenced_column());
        let constraint_q = quote_ident(&self.constraint());
        let mut actions = String::new();
        if let Some(sql) = self.on_delete.as_deref().and_then(|value| action_sql(value)) {
            actions.push_str(&format!(" ON DELETE {sql}"));
        }
        if let Some(sql) = self.on_update.as_deref().and_then(|value| action_sql(value)) {
            actions.push_str(&format!(" ON UPDATE {sql}"));
        }
        [
            Step::transaction(
                format!(
                    "add foreign key {constraint_q} NOT VALID (catalog only; SHARE ROW EXCLUSIVE on {table_q} and {references_q})"
                ),
                Lock::ShareRowExclusive,
                &table_q,
                [format!(
                    "ALTER TABLE {table_q} ADD CONSTRAINT {constraint_q} FOREIGN KEY ({column_q}) \
                     REFERENCES {references_q} ({referenced_q}){actions} NOT VALID"
                )],
            ),
            Step::transaction(
                format!("validate {constraint_q} while reads and writes go on (ROW SHARE on {references_q})"),
                Lock::ShareUpdateExclusive,
                &table_q,
                [format!("ALTER TABLE {table_q} VALIDATE CONSTRAINT {constraint_q}")],
            ),
        ]
    }

    fn drop_constraint(&self) -> Step {
        let table_q = self.table().sql();
        let constraint_q = quote_ident(&self.constraint());
        Step::transaction(
            format!(
                "drop foreign key {constraint_q} (ACCESS EXCLUSIVE on {table_q} and {})",
                self.references().sql()
            ),
            Lock::AccessExclusive,
            &table_q,
            [format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {constraint_q}")],
        )
    }

    fn contract(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let not_null = self.not_null.is_present();
        let mut forward = vec![self.orphans_check()];
        let mut reverse = vec![];
        if not_null {
            // Asked here too, so that NULLs are reported before the foreign key is added;
            // the NOT NULL sequence asks again right before its check.
            forward.push(steps::no_nulls_check(&table.sql(), column));
        }
        forward.extend(self.add_constraint());
        if not_null {
            forward.extend(steps::set_not_null(table, column));
        }
        if let Some(trigger) = self.trigger() {
            let name_q = quote_ident(&trigger.name);
            forward.push(trigger.remove(format!("drop trigger {name_q}")));
            reverse.push(trigger.install(format!("reinstall trigger {name_q}")));
        }
        if not_null {
            reverse.push(steps::drop_not_null(table, column));
        }
        reverse.push(self.drop_constraint());
        let summary = format!(
            "check for orphans, add the foreign key NOT VALID, validate it in a transaction of its own{}",
            if not_null {
                ", make the column NOT NULL through a validated check"
            } else {
                ""
            }
        );
        PhasePlan::new(summary, forward, reverse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zdm_plan::Action;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> AddForeignKey {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    fn statements(steps: &[Step]) -> Vec<Vec<String>> {
        steps
            .iter()
            .map(|step| step.statements().into_iter().map(str::to_owned).collect())
            .collect()
    }

    fn full() -> AddForeignKey {
        parse(quote!(
            table = "orders",
            column = "customer_id",
            references = "customers",
            ty = "bigint",
            backfill = "(SELECT c.id FROM customers AS c WHERE c.email = customer_email)",
            on_delete = "cascade",
            on_update = "No   Action",
            not_null
        ))
    }

    #[test]
    fn a_valid_declaration_has_no_errors() {
        let mut errors = darling::Error::accumulator();
        full().validate(&mut errors);
        assert!(errors.finish().is_ok());
    }

    #[test]
    fn a_new_column_needs_its_type() {
        let errors = messages(quote!(
            table = "orders",
            column = "customer_id",
            references = "customers"
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("needs its type, such as `ty = \"bigint\"`"),
            "{errors:?}"
        );
        assert!(errors[0].contains("add `existing_column`"), "{errors:?}");
        assert!(messages(quote!(
            table = "orders",
            column = "customer_id",
            references = "customers",
            existing_column
        ))
        .is_empty());
    }

    #[test]
    fn referential_actions_are_checked_with_suggestions() {
        let errors = messages(quote!(
            table = "o",
            column = "c",
            references = "p",
            ty = "int",
            on_delete = "set_null",
            on_update = "explode"
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`on_delete` is \"set_null\"; expected one of \"cascade\""),
            "{errors:?}"
        );
        assert!(errors[0].ends_with("did you mean \"set null\"?"), "{errors:?}");
        assert!(!errors[1].contains("did you mean"), "{errors:?}");
    }

    #[test]
    fn set_null_contradicts_not_null() {
        let errors = messages(quote!(
            table = "o",
            column = "c",
            references = "p",
            existing_column,
            on_update = "SET NULL",
            not_null
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("`on_update = \"set null\"` contradicts `not_null`"),
            "{errors:?}"
        );
    }

    #[test]
    fn not_null_on_a_new_column_needs_a_backfill() {
        let errors = messages(quote!(
            table = "o",
            column = "c",
            references = "p",
            ty = "int",
            not_null
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("add `backfill = \"…\"`"), "{errors:?}");
    }

    #[test]
    fn a_column_cannot_reference_itself() {
        let errors = messages(quote!(
            table = "t",
            column = "id",
            references = "t",
            existing_column
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cannot reference itself"), "{errors:?}");
        // A self-reference through another column is a tree, and fine.
        assert!(messages(quote!(
            table = "t",
            column = "parent_id",
            references = "t",
            ty = "bigint"
        ))
        .is_empty());
    }

    #[test]
    fn identifiers_types_and_expressions_are_checked() {
        let long = "x".repeat(64);
        let errors = messages(quote!(
            table = "",
            column = "c",
            references = #long,
            referenced_column = "",
            ty = "integr",
            backfill = "1; DROP TABLE o"
        ));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn expand_adds_the_column_and_builds_the_index_concurrently() {
        let plan = full().plan("m", "");
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Expand).forward)[5..],
            [
                vec!["ALTER TABLE \"orders\" ADD COLUMN \"customer_id\" bigint".to_owned()],
                vec![
                    "CREATE INDEX CONCURRENTLY \"orders_customer_id_idx\" ON \"orders\" (\"customer_id\")"
                        .to_owned()
                ],
            ]
        );
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[6].lock,
            Lock::ShareUpdateExclusive
        );
        assert!(matches!(
            &plan.phase(zdm_plan::Phase::Expand).forward[3].action,
            Action::Expect(Expectation::ForeignKeyTarget { references, referenced_column, .. })
                if references == "\"customers\"" && referenced_column == "id"
        ));
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Expand).reverse),
            [
                vec!["DROP INDEX CONCURRENTLY IF EXISTS \"orders_customer_id_idx\"".to_owned()],
                vec!["ALTER TABLE \"orders\" DROP COLUMN IF EXISTS \"customer_id\"".to_owned()],
            ]
        );
    }

    #[test]
    fn the_sync_trigger_derives_a_new_column() {
        let plan = full().plan("m", "");
        let sql = &statements(&plan.phase(zdm_plan::Phase::Sync).forward)[0];
        assert!(sql[0].contains(
            "OR (TG_OP = 'UPDATE' AND NEW.\"customer_id\" IS NOT DISTINCT FROM OLD.\"customer_id\")"
        ));
        assert!(
            sql[2].starts_with("CREATE TRIGGER \"zdm_sync_orders_customer_id\" BEFORE UPDATE ON \"orders\"")
        );
        assert!(sql[4].starts_with(
            "CREATE TRIGGER \"zdm_sync_orders_customer_id_insert\" BEFORE INSERT ON \"orders\""
        ));
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Backfill).forward),
            [vec![
                "UPDATE \"orders\" SET \"customer_id\" = ((SELECT c.id FROM customers AS c WHERE c.email = customer_email)) \
                 WHERE {range} AND \"customer_id\" IS NULL"
                    .to_owned()
            ]]
        );
    }

    #[test]
    fn the_contract_checks_orphans_then_adds_not_valid_then_validates_separately() {
        let plan = full().plan("m", "");
        let steps = &plan.phase(zdm_plan::Phase::Contract).forward;
        let sql = statements(steps);
        assert!(matches!(steps[0].action, Action::Check(zdm_plan::Check { .. })));
        assert_eq!(
            sql[0],
            ["SELECT count(*) FROM \"orders\" AS zdm_row WHERE zdm_row.\"customer_id\" IS NOT NULL AND NOT EXISTS \
              (SELECT 1 FROM \"customers\" AS zdm_ref WHERE zdm_ref.\"id\" = zdm_row.\"customer_id\")"]
        );
        assert!(
            matches!(steps[1].action, Action::Check(zdm_plan::Check { .. })),
            "NULLs are counted before any change"
        );
        assert_eq!(
            sql[2],
            ["ALTER TABLE \"orders\" ADD CONSTRAINT \"orders_customer_id_fkey\" FOREIGN KEY (\"customer_id\") \
              REFERENCES \"customers\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION NOT VALID"]
        );
        assert_eq!(steps[2].lock, Lock::ShareRowExclusive);
        assert_eq!(
            sql[3],
            ["ALTER TABLE \"orders\" VALIDATE CONSTRAINT \"orders_customer_id_fkey\""]
        );
        assert_eq!(steps[3].lock, Lock::ShareUpdateExclusive);
        // The seed's mistake: NOT VALID and VALIDATE in one transaction.
        assert!(sql
            .iter()
            .all(|step| !(step.iter().any(|s| s.contains("NOT VALID"))
                && step.iter().any(|s| s.contains("VALIDATE CONSTRAINT")))));
        // The seed's other mistake: SET NOT NULL only after the check is validated, in a later step.
        let set_not_null = sql
            .iter()
            .position(|step| step.iter().any(|s| s.contains("SET NOT NULL")))
            .unwrap();
        let validate_check = sql
            .iter()
            .position(|step| {
                step.iter()
                    .any(|s| s.contains("VALIDATE CONSTRAINT \"zdm_orders_customer_id_nn\""))
            })
            .unwrap();
        assert!(validate_check < set_not_null);
        assert!(sql[..validate_check]
            .iter()
            .flatten()
            .any(|s| s.contains("CHECK (\"customer_id\" IS NOT NULL) NOT VALID")));
        assert_eq!(
            sql.last().unwrap(),
            &[
                "DROP TRIGGER IF EXISTS \"zdm_sync_orders_customer_id\" ON \"orders\"",
                "DROP TRIGGER IF EXISTS \"zdm_sync_orders_customer_id_insert\" ON \"orders\"",
                "DROP FUNCTION IF EXISTS \"zdm_sync_orders_customer_id\"()"
            ]
        );
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Contract).reverse)
                .last()
                .unwrap(),
            &["ALTER TABLE \"orders\" DROP CONSTRAINT IF EXISTS \"orders_customer_id_fkey\""]
        );
    }

    #[test]
    fn an_existing_column_is_neither_added_nor_dropped_and_its_backfill_is_recorded() {
        let plan = parse(quote!(
            table = "orders",
            column = "customer_id",
            references = "customers",
            referenced_column = "key",
            existing_column,
            backfill = "0",
            not_null
        ))
        .plan("m", "");
        let expand = statements(&plan.phase(zdm_plan::Phase::Expand).forward).concat();
        assert!(expand.iter().all(|s| !s.contains("ADD COLUMN")), "{expand:?}");
        assert!(statements(&plan.phase(zdm_plan::Phase::Expand).reverse)
            .concat()
            .iter()
            .all(|s| !s.contains("DROP COLUMN")));
        assert!(plan
            .phase(zdm_plan::Phase::Expand)
            .forward
            .iter()
            .any(|step| matches!(&step.action, Action::Expect(Expectation::ColumnNullable { .. }))));
        let backfill = statements(&plan.phase(zdm_plan::Phase::Backfill).forward).concat();
        assert!(
            backfill[1].contains("zdm_record AS (INSERT INTO {state}.\"m_filled\" (zdm_keys, zdm_new)"),
            "{backfill:?}"
        );
        let reverse = statements(&plan.phase(zdm_plan::Phase::Backfill).reverse).concat();
        assert!(
            reverse[2].contains("FROM {state}.\"m_filled\", unnest(zdm_keys, zdm_new)"),
            "{reverse:?}"
        );
        assert!(
            reverse[3].contains("EXISTS (SELECT 1 FROM {state}.\"m_filled_keys\""),
            "{reverse:?}"
        );
        assert_eq!(reverse[5], "DROP TABLE IF EXISTS {state}.\"m_filled\"");
        // An existing column is maintained by the application: only its gaps are filled.
        assert!(statements(&plan.phase(zdm_plan::Phase::Sync).forward)[0][0]
            .contains("(TG_OP = 'INSERT' OR OLD.\"customer_id\" IS NULL)"));
    }

    #[test]
    fn without_backfill_there_is_nothing_to_sync_or_backfill() {
        let plan = parse(quote!(
            table = "o",
            column = "p_id",
            references = "p",
            ty = "uuid"
        ))
        .plan("m", "");
        assert!(
            plan.phase(zdm_plan::Phase::Sync).forward.is_empty()
                && plan.phase(zdm_plan::Phase::Backfill).forward.is_empty()
        );
        assert_eq!(plan.phase(zdm_plan::Phase::Contract).forward.len(), 3);
        assert_eq!(plan.phase(zdm_plan::Phase::Contract).reverse.len(), 1);
    }
}
