//! `add_check`: a CHECK constraint added without a scan under ACCESS EXCLUSIVE: `ADD
//! CONSTRAINT … CHECK (…) NOT VALID` (catalog only), then `VALIDATE CONSTRAINT` in a
//! transaction of its own under SHARE UPDATE EXCLUSIVE, while reads and writes go on.
//!
//! What happens to rows that break the check depends on `fix`:
//! - without one, there is nothing to turn a violating row into, so expand refuses while
//!   any row breaks the check (counting them and showing a few) and adds the check NOT
//!   VALID: from then on, writes of either version that break it are refused;
//! - with `fix` (an expression over the row) and `fix_column`, the old version keeps
//!   working: a sync trigger gives every write that breaks the check the fixed value, the
//!   backfill fixes the rows already there, and the contract adds the check, which is then
//!   only the vehicle of the validation. The backfill records each fixed row's old value
//!   and the value the fix gave it (`zdm.<id>_fixed`), so its reversal gives exactly those
//!   rows their value back, and only while they still hold what the fix wrote: a write made
//!   since is the application's and stays.
//!
//! A row breaks a CHECK when the condition is false; NULL passes, as PostgreSQL has it, so
//! every "breaks" below is `NOT (condition)`, which is NULL, not true, for such a row.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::steps::{self, Trigger};
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{embedded, quote_ident, quote_literal, STATE_SCHEMA};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddCheck {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    /// The constraint's name: it outlives the change, so the user chooses it.
    name: SpannedValue<String>,
    check: SpannedValue<String>,
    fix_column: Option<SpannedValue<String>>,
    fix: Option<SpannedValue<String>>,
}

impl AddCheck {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "name", "check", "fix_column", "fix"];
}

impl Operation for AddCheck {
    fn relations(&self) -> Relations {
        let mut uses = vec![relations::table(&self.table())];
        if let Some(column) = &self.fix_column {
            uses.push(relations::column(&self.table(), column));
        }
        Relations {
            uses,
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "name", &self.name);
        validate::condition(errors, "check", &self.check);
        if let Some(column) = &self.fix_column {
            validate::identifier(errors, "fix_column", column);
        }
        if let Some(fix) = &self.fix {
            validate::expression(errors, "fix", fix);
        }
        match (&self.fix_column, &self.fix) {
            (Some(column), None) => validate::push(
                errors,
                column.span(),
                format_args!(
                    "`fix_column` needs `fix`, the value `{}` takes in rows that break the check, such as \
                     `fix = \"greatest({}, 0)\"`; or leave both out to refuse such rows",
                    column.as_str(),
                    column.as_str()
                ),
            ),
            (None, Some(fix)) => validate::push(
                errors,
                fix.span(),
                "`fix` needs `fix_column`, the column it is assigned to in rows that break the check",
            ),
            _ => {}
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [self.expand(), self.sync(), self.backfill(id), self.contract()];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddCheck {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn check(&self) -> String {
        embedded(&self.check)
    }

    /// The column and expression of a declared fix.
    fn fix(&self) -> Option<(&str, String)> {
        let column = self.fix_column.as_deref()?;
        Some((column.as_str(), embedded(self.fix.as_deref()?)))
    }

    fn name_q(&self) -> String {
        quote_ident(&self.name)
    }

    /// The trigger that fixes writes breaking the check while the old version runs.
    fn trigger(&self) -> Option<Trigger> {
        let (column, fix) = self.fix()?;
        let table = self.table();
        let name = names::check_fix_trigger(table.name(), &self.name);
        let column_q = quote_ident(column);
        // The backfill's reversal writes the recorded values back, which break the check;
        // it says so through `zdm.unfill`, as add_not_null's reversal does.
        let body = format!(
            "  IF current_setting('zdm.unfill', true) IS DISTINCT FROM {bypass}\n\
             \x20    AND (SELECT NOT {check} FROM (SELECT NEW.*) AS zdm_row) THEN\n\
             \x20   NEW.{column_q} := (SELECT {fix} FROM (SELECT NEW.*) AS zdm_row);\n\
             \x20 END IF;\n\
             \x20 RETURN NEW;",
            bypass = quote_literal(&name),
            check = self.check(),
        );
        Some(Trigger {
            table,
            name,
            timing: "BEFORE INSERT OR UPDATE".to_owned(),
            body,
            when: None,
            twin: None,
        })
    }

    /// Counts the rows that break the check and shows a few; asked before any lock is taken.
    fn no_violations(&self) -> Step {
        let table_q = self.table().sql();
        let check = self.check();
        Step::check(
            format!("check that no row of {table_q} breaks {}", self.name_q()),
            Lock::AccessShare,
            Some(&table_q),
            Check::new(
                format!("no row of {table_q} breaks CHECK {check}"),
                format!("SELECT count(*) FROM {table_q} WHERE NOT {check}"),
                format!("SELECT zdm_row::text FROM {table_q} AS zdm_row WHERE NOT {check} LIMIT 5"),
            ),
        )
    }

    /// PostgreSQL 12 has no BEFORE row triggers on a partitioned table, and the fix is one:
    /// refused at expand, before any change, rather than at sync with expand done.
    fn fix_trigger_allowed(&self) -> Step {
        let table_q = self.table().sql();
        let relkind = format!(
            "(SELECT relkind FROM pg_class WHERE oid = {})",
            crate::ops::recorded::regclass(&table_q)
        );
        crate::ops::recorded::catalog_holds(
            format!("{table_q} can have the BEFORE row trigger of `fix` (PostgreSQL 13 or later for a partitioned table)"),
            &format!("current_setting('server_version_num')::int >= 130000 OR {relkind} IS DISTINCT FROM 'p'"),
            "'a partitioned table on PostgreSQL ' || current_setting('server_version')",
        )
    }

    fn add_not_valid_sql(&self) -> String {
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} CHECK {} NOT VALID",
            self.table().sql(),
            self.name_q(),
            self.check()
        )
    }

    fn add_not_valid(&self) -> Step {
        Step::transaction(
            format!("add CHECK {} NOT VALID as {}", self.check(), self.name_q()),
            Lock::AccessExclusive,
            &self.table().sql(),
            [self.add_not_valid_sql()],
        )
    }

    fn validate_constraint(&self) -> Step {
        let table_q = self.table().sql();
        Step::transaction(
            format!("validate {} while reads and writes go on", self.name_q()),
            Lock::ShareUpdateExclusive,
            &table_q,
            [format!("ALTER TABLE {table_q} VALIDATE CONSTRAINT {}", self.name_q())],
        )
    }

    fn drop_constraint(&self) -> Step {
        let table_q = self.table().sql();
        Step::transaction(
            format!("drop the check {}", self.name_q()),
            Lock::AccessExclusive,
            &table_q,
            [format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {}", self.name_q())],
        )
    }

    fn expand(&self) -> PhasePlan {
        let table_q = self.table().sql();
        let mut forward = vec![steps::table_exists(&table_q)];
        // Only the fix's trigger evaluates the check and the fix itself, before PostgreSQL
        // computes the row's generated columns; the constraint alone may read them.
        if let (Some(column), Some(fix)) = (&self.fix_column, &self.fix) {
            forward.extend(steps::fragment_reads(&table_q, "check", &self.check));
            forward.push(steps::column_exists(&table_q, column, None));
            forward.extend(steps::fragment_reads(&table_q, "fix", fix));
            forward.push(self.fix_trigger_allowed());
        }
        forward.push(steps::constraint_absent(&table_q, &self.name));
        if self.fix.is_some() {
            return PhasePlan::new(
                format!("nothing to add: rows that break {} are fixed, not refused", self.name_q()),
                forward,
                vec![],
            );
        }
        forward.push(self.no_violations());
        forward.push(self.add_not_valid());
        PhasePlan::new(
            "refuse while any row breaks the check, then add it NOT VALID: writes breaking it are refused \
             from now on, old rows are not scanned under the lock",
            forward,
            vec![self.drop_constraint()],
        )
    }

    fn sync(&self) -> PhasePlan {
        let (Some((column, fix)), Some(trigger)) = (self.fix(), self.trigger()) else {
            return PhasePlan::nothing("nothing to sync: no `fix`; the NOT VALID check refuses writes breaking it");
        };
        let trigger_q = quote_ident(&trigger.name);
        PhasePlan::new(
            format!("give {} the value {fix} in every write that breaks the check", quote_ident(column)),
            vec![trigger.install(format!("install trigger {trigger_q} fixing writes"))],
            vec![trigger.remove(format!("drop trigger {trigger_q}"))],
        )
    }

    fn backfill(&self, id: &str) -> PhasePlan {
        let (Some((column, fix)), Some(trigger)) = (self.fix(), self.trigger()) else {
            return PhasePlan::nothing("nothing to backfill: no `fix`; expand refused rows breaking the check");
        };
        let table_q = self.table().sql();
        let column_q = quote_ident(column);
        let check = self.check();
        let record_name = quote_ident(&names::fix_record(id));
        let record = format!("{STATE_SCHEMA}.{record_name}");
        let key_text = "(SELECT zdm_k::text FROM (SELECT {key}) AS zdm_k)";
        let create_record = Step::transaction(
            format!(
                "create {record_name} in the state schema, the old and fixed values of the rows the backfill fixes"
            ),
            Lock::None,
            &record,
            [format!(
                "CREATE TABLE IF NOT EXISTS {record} (zdm_key text PRIMARY KEY, zdm_old jsonb, zdm_new jsonb)"
            )],
        );
        // The old value is read under the row lock the update then takes, so the record
        // holds what the update replaced. A ctid names a row only within one table, hence
        // the tableoid too: partitions and inheriting tables share the update.
        let fix_rows = Step::backfill(
            format!("set {column_q} = {fix} where the row breaks the check, recording the old value"),
            &table_q,
            [format!(
                "WITH zdm_fixed AS (UPDATE {table_q} SET {column_q} = {fix} \
                 FROM (SELECT tableoid AS zdm_tableoid, ctid AS zdm_ctid, {column_q} AS zdm_old FROM {table_q} \
                 WHERE {{range}} AND NOT {check} FOR UPDATE) AS zdm_o \
                 WHERE {table_q}.tableoid = zdm_o.zdm_tableoid AND {table_q}.ctid = zdm_o.zdm_ctid \
                 RETURNING {key_text} AS zdm_key, jsonb_build_object({column_l}, zdm_o.zdm_old) AS zdm_old, \
                 jsonb_build_object({column_l}, {table_q}.{column_q}) AS zdm_new) \
                 INSERT INTO {record} (zdm_key, zdm_old, zdm_new) SELECT zdm_key, zdm_old, zdm_new FROM zdm_fixed \
                 ON CONFLICT DO NOTHING",
                column_l = quote_literal(column),
            )],
        );
        // The one-row FROM item runs before the first row is updated, so the trigger sees
        // the bypass for every row of the batch; it ends with the batch's transaction. A row
        // whose value is no longer the one the fix wrote was written since, by a version
        // that meant its value: it keeps it. The values compare as jsonb, which every type
        // has and whose equality is defined for all of them.
        let restore = Step::backfill(
            format!("give {column_q} back its recorded value in the rows the backfill fixed that still hold the fix"),
            &table_q,
            [format!(
                "UPDATE {table_q} SET {column_q} = \
                 (jsonb_populate_record(NULL::{table_q}, zdm_f.zdm_old)).{column_q} \
                 FROM {record} AS zdm_f, \
                 (SELECT set_config('zdm.unfill', {bypass}, true) AS zdm_unfill) AS zdm_unfill \
                 WHERE {{range}} AND zdm_f.zdm_key = {key_text} \
                 AND jsonb_build_object({column_l}, {table_q}.{column_q}) = zdm_f.zdm_new",
                column_l = quote_literal(column),
                bypass = quote_literal(&trigger.name),
            )],
        );
        let drop_record = Step::transaction(
            format!("drop {record_name} from the state schema"),
            Lock::AccessExclusive,
            &record,
            [format!("DROP TABLE IF EXISTS {record}")],
        );
        PhasePlan::new(
            format!(
                "fix the rows breaking the check in primary-key batches, recording their old {column_q} in \
                 {record_name} in the state schema"
            ),
            vec![create_record.clone(), fix_rows],
            vec![create_record, restore, drop_record],
        )
    }

    fn contract(&self) -> PhasePlan {
        let name_q = self.name_q();
        let Some(trigger) = self.trigger() else {
            let table_q = self.table().sql();
            return PhasePlan::new(
                format!("count the rows breaking the check (refusing if any), validate {name_q}"),
                vec![self.no_violations(), self.validate_constraint()],
                vec![Step::transaction(
                    format!("make {name_q} NOT VALID again"),
                    Lock::AccessExclusive,
                    &table_q,
                    [
                        format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {name_q}"),
                        self.add_not_valid_sql(),
                    ],
                )],
            );
        };
        let trigger_q = quote_ident(&trigger.name);
        PhasePlan::new(
            format!(
                "count the rows breaking the check (refusing if any), add {name_q} NOT VALID, validate it, drop \
                 the trigger"
            ),
            vec![
                self.no_violations(),
                self.add_not_valid(),
                self.validate_constraint(),
                trigger.remove(format!("drop trigger {trigger_q}")),
            ],
            vec![
                trigger.install(format!("reinstall trigger {trigger_q}")),
                self.drop_constraint(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::Phase;

    fn parse(tokens: proc_macro2::TokenStream) -> AddCheck {
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
    fn the_fix_needs_its_column_and_the_column_its_fix() {
        assert!(messages(quote!(table = "t", name = "c", check = "price >= 0")).is_empty());
        let errors = messages(quote!(table = "t", name = "c", check = "price >= 0", fix = "0"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`fix` needs `fix_column`"), "{errors:?}");
        let errors = messages(quote!(table = "t", name = "c", check = "42", fix_column = "price"));
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn without_a_fix_expand_refuses_violations_and_adds_the_check_not_valid() {
        let plan = parse(quote!(table = "items", name = "price_positive", check = "price > 0")).plan("m", "");
        assert_eq!(
            sql(&plan.phase(Phase::Expand).forward),
            [
                "SELECT count(*) FROM \"items\" WHERE NOT (price > 0)",
                "ALTER TABLE \"items\" ADD CONSTRAINT \"price_positive\" CHECK (price > 0) NOT VALID",
            ]
        );
        let contract = &plan.phase(Phase::Contract).forward;
        assert_eq!(contract[1].lock, Lock::ShareUpdateExclusive);
        assert_eq!(
            sql(&plan.phase(Phase::Contract).reverse),
            [
                "ALTER TABLE \"items\" DROP CONSTRAINT IF EXISTS \"price_positive\"",
                "ALTER TABLE \"items\" ADD CONSTRAINT \"price_positive\" CHECK (price > 0) NOT VALID",
            ]
        );
    }

    #[test]
    fn with_a_fix_the_check_comes_in_the_contract_after_trigger_and_backfill() {
        let plan = parse(quote!(
            table = "items",
            name = "price_positive",
            check = "price > 0",
            fix_column = "price",
            fix = "1"
        ))
        .plan("m", "");
        // Expand only reads: the one statement asks whether the table may have the trigger.
        let expand = sql(&plan.phase(Phase::Expand).forward);
        assert_eq!(expand.len(), 1, "{expand:?}");
        assert!(expand[0].starts_with("SELECT count(*) FROM (SELECT 1) AS zdm_probe WHERE NOT (current_setting('server_version_num')::int >= 130000"), "{expand:?}");
        assert!(sql(&plan.phase(Phase::Sync).forward)[0].contains("NEW.\"price\" := (SELECT (1) FROM"));
        assert!(sql(&plan.phase(Phase::Backfill).forward)[1].contains("WHERE {range} AND NOT (price > 0) FOR UPDATE"));
        let restore = &sql(&plan.phase(Phase::Backfill).reverse)[1];
        assert!(
            restore.ends_with("AND jsonb_build_object('price', \"items\".\"price\") = zdm_f.zdm_new"),
            "only a row still holding what the fix wrote gets its old value back: {restore}"
        );
        let contract = sql(&plan.phase(Phase::Contract).forward);
        assert!(contract[1].ends_with("NOT VALID") && contract[2].contains("VALIDATE"));
    }
}
