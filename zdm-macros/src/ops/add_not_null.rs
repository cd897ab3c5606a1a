//! `add_not_null`: an existing column made NOT NULL without a scan under ACCESS EXCLUSIVE,
//! through `CHECK (col IS NOT NULL) NOT VALID`, its validation, `SET NOT NULL` (which
//! PostgreSQL 12+ proves from the valid check) and the check's removal.
//!
//! What happens to NULL writes during the transition depends on `backfill`:
//! - with a value, the old version keeps working: a sync trigger replaces every NULL it
//!   writes with the value, the backfill replaces the NULLs already there, and the check
//!   comes in the contract, where it is only the vehicle of the validation;
//! - without one, there is nothing to replace a NULL with, so the declared intent holds
//!   from expand on: the NOT VALID check refuses NULL writes of either version from then,
//!   and the contract refuses, counting them and showing a few, while NULLs remain.
//!
//! The column existed before, so the backfill records the keys of the rows it fills and the
//! value each got (`zdm.<id>_filled`), and its reversal gives exactly those rows their NULL
//! back, those that still hold that value: a row written since keeps its writer's value.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::steps::{self, FillWhen, Trigger, Writes};
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::sql::quote_ident;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddNotNull {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    backfill: Option<SpannedValue<String>>,
}

impl AddNotNull {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "backfill"];
}

impl Operation for AddNotNull {
    fn footprint(&self) -> Footprint {
        Footprint {
            changes: vec![relations::column(&self.table(), &self.column)],
            ..Footprint::of(self.relations())
        }
    }

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
        if let Some(backfill) = &self.backfill {
            validate::expression(errors, "backfill", backfill);
            if backfill.trim().eq_ignore_ascii_case("null") {
                validate::push(
                    errors,
                    backfill.span(),
                    "`backfill` is NULL, the very value `add_not_null` removes; give the value NULLs should \
                     become, such as `backfill = \"''\"`, or leave `backfill` out",
                );
            }
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [self.expand(), self.sync(), self.backfill(id), self.contract()];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddNotNull {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The sync trigger that gives NULL writes the `backfill` value, if there is one.
    fn trigger(&self) -> Option<Trigger> {
        let value = self.backfill.as_deref()?;
        Some(steps::fill_trigger(&self.table(), &self.column, value, FillWhen::AnyNull))
    }

    fn expand(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let table_q = table.sql();
        let column_q = quote_ident(column);
        let mut forward = vec![steps::table_exists(&table_q)];
        if let Some(backfill) = self.backfill.as_deref() {
            forward.extend(steps::fragment_reads(&table_q, "backfill", backfill));
        }
        forward.extend([
            steps::column_nullable(&table_q, column),
            steps::constraint_absent(&table_q, &steps::not_null_check_name(table, column)),
        ]);
        if self.backfill.is_some() {
            return PhasePlan::new(
                format!("nothing to add: {table_q}.{column_q} exists and accepts NULLs"),
                forward,
                vec![],
            );
        }
        forward.push(steps::add_not_null_check(table, column));
        PhasePlan::new(
            format!(
                "add CHECK ({column_q} IS NOT NULL) NOT VALID: NULL writes are refused from now on, old rows are not scanned"
            ),
            forward,
            vec![steps::drop_not_null_check(table, column)],
        )
    }

    fn sync(&self) -> PhasePlan {
        let (Some(value), Some(trigger)) = (self.backfill.as_deref(), self.trigger()) else {
            return PhasePlan::nothing("nothing to sync: no `backfill` value to give NULL writes");
        };
        let trigger_q = quote_ident(&trigger.name);
        PhasePlan::new(
            format!("replace every NULL written to {} with {value}", quote_ident(&self.column)),
            vec![trigger.install(format!("install trigger {trigger_q} replacing NULLs"))],
            vec![trigger.remove(format!("drop trigger {trigger_q}"))],
        )
    }

    fn backfill(&self, id: &str) -> PhasePlan {
        let (Some(value), Some(trigger)) = (self.backfill.as_deref(), self.trigger()) else {
            return PhasePlan::nothing(
                "nothing to backfill: no `backfill` value; NULLs left make the contract refuse",
            );
        };
        let (table, column) = (&self.table(), self.column.as_str());
        let record = steps::fill_record(id);
        PhasePlan::new(
            format!(
                "set the NULLs of {} to {value} in batches, recording the rows filled in {record}",
                quote_ident(column)
            ),
            steps::backfill_nulls_recorded(table, column, value, &record, Writes::Filled),
            steps::unfill_recorded(table, column, &record, Some(&trigger.name)),
        )
    }

    fn contract(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let Some(trigger) = self.trigger() else {
            return self.contract_of_expanded_check();
        };
        let trigger_q = quote_ident(&trigger.name);
        let mut forward = steps::set_not_null(table, column);
        forward.push(trigger.remove(format!("drop trigger {trigger_q}")));
        PhasePlan::new(
            "count the NULLs left (refusing if any), CHECK NOT VALID, validate it, SET NOT NULL proven \
             by it, drop the check and the trigger",
            forward,
            vec![
                trigger.install(format!("reinstall trigger {trigger_q}")),
                steps::drop_not_null(table, column),
            ],
        )
    }

    /// Without `backfill`, expand added the NOT VALID check; its reversal goes back to it.
    fn contract_of_expanded_check(&self) -> PhasePlan {
        let (table, column) = (&self.table(), self.column.as_str());
        let table_q = table.sql();
        let column_q = quote_ident(column);
        let check_q = quote_ident(&steps::not_null_check_name(table, column));
        PhasePlan::new(
            format!(
                "count the NULLs left (refusing if any), validate the check, SET NOT NULL proven by it, drop {check_q}"
            ),
            vec![
                steps::no_nulls_check(&table_q, column),
                steps::validate_not_null_check(table, column),
                steps::set_not_null_from_check(table, column),
            ],
            vec![Step::transaction(
                format!("drop NOT NULL from {column_q}, back to the NOT VALID check"),
                Lock::AccessExclusive,
                &table_q,
                [
                    format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP NOT NULL"),
                    format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {check_q}"),
                    format!(
                        "ALTER TABLE {table_q} ADD CONSTRAINT {check_q} CHECK ({column_q} IS NOT NULL) NOT VALID"
                    ),
                ],
            )],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> AddNotNull {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    fn sql(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .flat_map(|step| step.statements().into_iter().map(str::to_owned))
            .collect()
    }

    #[test]
    fn identifiers_and_the_value_are_checked() {
        assert!(messages(quote!(table = "users", column = "email", backfill = "'x'")).is_empty());
        let errors = messages(quote!(table = "", column = "email", backfill = "'open"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        let errors = messages(quote!(table = "users", column = "email", backfill = " null "));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("the very value `add_not_null` removes"),
            "{errors:?}"
        );
    }

    #[test]
    fn without_a_value_the_check_comes_in_expand_and_the_contract_validates_it() {
        let plan = parse(quote!(table = "users", column = "email")).plan("m", "");
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Expand).forward),
            ["ALTER TABLE \"users\" ADD CONSTRAINT \"zdm_users_email_nn\" CHECK (\"email\" IS NOT NULL) NOT VALID"]
        );
        assert!(
            plan.phase(zdm_plan::Phase::Sync).forward.is_empty()
                && plan.phase(zdm_plan::Phase::Backfill).forward.is_empty()
        );
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Contract).forward),
            [
                "SELECT count(*) FROM \"users\" WHERE \"email\" IS NULL",
                "ALTER TABLE \"users\" VALIDATE CONSTRAINT \"zdm_users_email_nn\"",
                "ALTER TABLE \"users\" ALTER COLUMN \"email\" SET NOT NULL",
                "ALTER TABLE \"users\" DROP CONSTRAINT \"zdm_users_email_nn\"",
            ]
        );
        assert_eq!(
            plan.phase(zdm_plan::Phase::Contract).forward[1].lock,
            Lock::ShareUpdateExclusive
        );
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Expand).reverse),
            ["ALTER TABLE \"users\" DROP CONSTRAINT IF EXISTS \"zdm_users_email_nn\""]
        );
        assert!(sql(&plan.phase(zdm_plan::Phase::Contract).reverse)[2].ends_with("NOT VALID"));
    }

    #[test]
    fn with_a_value_a_trigger_replaces_nulls_and_the_backfill_records_what_it_fills() {
        let plan = parse(quote!(
            table = "users",
            column = "email",
            backfill = "'unknown@example.com'"
        ))
        .plan("m", "");
        assert!(
            sql(&plan.phase(zdm_plan::Phase::Expand).forward).is_empty(),
            "expand changes nothing"
        );
        let install = sql(&plan.phase(zdm_plan::Phase::Sync).forward);
        assert!(install[0].contains(
            "IF NEW.\"email\" IS NULL\n     AND current_setting('zdm.unfill', true) IS DISTINCT FROM 'zdm_sync_users_email' THEN"
        ));
        assert!(install[0]
            .contains("NEW.\"email\" := (SELECT ('unknown@example.com') FROM (SELECT NEW.*) AS zdm_row);"));
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Backfill).forward),
            [
                "CREATE TABLE IF NOT EXISTS {state}.\"m_filled\" (zdm_keys text[] NOT NULL, zdm_new jsonb[] NOT NULL)",
                "WITH zdm_filled AS (UPDATE \"users\" SET \"email\" = ('unknown@example.com') WHERE {range} AND \"email\" IS NULL \
                 RETURNING (SELECT zdm_k::text FROM (SELECT {key}) AS zdm_k) AS zdm_key, to_jsonb(\"email\") AS zdm_new), \
                 zdm_record AS (INSERT INTO {state}.\"m_filled\" (zdm_keys, zdm_new) \
                 SELECT array_agg(zdm_key), array_agg(zdm_new) FROM zdm_filled HAVING count(*) > 0) \
                 SELECT count(*) AS zdm_rows FROM zdm_filled",
            ]
        );
        let reverse = sql(&plan.phase(zdm_plan::Phase::Backfill).reverse);
        assert!(reverse[3].starts_with(
            "UPDATE \"users\" SET \"email\" = NULL FROM (SELECT set_config('zdm.unfill', 'zdm_sync_users_email', true) \
             AS zdm_unfill) AS zdm_unfill WHERE {range}"
        ));
        assert!(
            reverse[3].ends_with("AND zdm_f.zdm_new = to_jsonb(\"users\".\"email\"))"),
            "only a row still holding the value filled in gets its NULL back: {reverse:?}"
        );
        let contract = sql(&plan.phase(zdm_plan::Phase::Contract).forward);
        assert_eq!(
            contract[0],
            "SELECT count(*) FROM \"users\" WHERE \"email\" IS NULL"
        );
        assert!(contract[1].ends_with("NOT VALID"));
        assert!(contract[2].contains("VALIDATE CONSTRAINT"));
        assert!(contract[3].ends_with("SET NOT NULL"));
        assert!(contract[5].starts_with("DROP TRIGGER IF EXISTS"));
        let revert = sql(&plan.phase(zdm_plan::Phase::Contract).reverse);
        assert!(revert[0].starts_with("CREATE OR REPLACE FUNCTION"));
        assert!(revert.last().unwrap().ends_with("DROP NOT NULL"));
    }
}
