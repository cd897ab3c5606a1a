//! The plan shared by `rename_column` and `change_type`: a new column beside the old one,
//! a sync trigger in both directions, a backfill, and a contract that swaps the new column
//! in. What the old column carries (type, default, NOT NULL, constraints, indexes) is only
//! known at run time, so the steps that depend on it are `Carry` steps the runtime
//! computes from the catalog (zdm-runtime's `carry` module); this module decides their
//! order, their locks and the SQL the macro can write itself: the trigger and the backfills.
//!
//! The sync trigger is one `BEFORE INSERT OR UPDATE FOR EACH ROW` trigger:
//! - INSERT: a NULL new column is filled from the old one; otherwise the old column is
//!   filled from the new one, so when a write gives both and they differ, the new column
//!   wins (the old version cannot know the new column, so only the new version gives both).
//! - UPDATE: the side that changed (`IS DISTINCT FROM OLD`) is copied to the other; when
//!   both changed, the new column wins.
//! - The backfills mark their own transaction (`SET LOCAL zdm.quiet = '<trigger>'`) and the
//!   trigger stands aside for it: a backfill writes one side from the other and must not
//!   have the trigger convert the value back.

use crate::ops::steps::{self, Trigger};
use crate::sql::{embedded, quote_ident, quote_literal, STATE_SCHEMA};
use crate::table::Table;
use zdm_plan::names;
use zdm_plan::{Action, Carry, CarryTarget, CarryWork, Lock, PhasePlan, Plan, Step};

/// One column swap, as `rename_column` or `change_type` declares it.
pub struct ColumnSwap<'a> {
    pub operation: &'static str,
    pub table: Table,
    /// The existing column.
    pub column: &'a str,
    /// The column added for the transition.
    pub new_column: &'a str,
    /// The new type; `None` keeps the old one (a rename).
    pub ty: Option<&'a str>,
    /// The declared default of the new column (change_type).
    pub default: Option<&'a str>,
    /// The declared conversions, over the column's name (change_type).
    pub up: Option<&'a str>,
    pub down: Option<&'a str>,
    /// `triggers_checked`: the user has checked the table's row triggers against the swap.
    pub triggers_checked: bool,
}

impl ColumnSwap<'_> {
    /// Whether the contract gives the new column the old one's name (a type change) or
    /// keeps its own (a rename).
    fn keeps_name(&self) -> bool {
        self.ty.is_some()
    }

    pub fn trigger(&self) -> Trigger {
        let name = names::swap_trigger(self.table.name(), self.column, self.new_column);
        let old = quote_ident(self.column);
        let new = quote_ident(self.new_column);
        let up = self.up_from(&format!("NEW.{old}"));
        let down = self.down_from(&format!("NEW.{new}"));
        Trigger {
            table: self.table.clone(),
            timing: "BEFORE INSERT OR UPDATE".to_owned(),
            // Checked by the server before the function is called: the backfill's own
            // writes (which set `zdm.quiet`) call nothing.
            when: Some(format!(
                "current_setting('zdm.quiet', true) IS DISTINCT FROM {}",
                quote_literal(&name)
            )),
            twin: None,
            body: format!(
                "  IF current_setting('zdm.quiet', true) = {quiet} THEN\n\
                 \x20   RETURN NEW;\n\
                 \x20 END IF;\n\
                 \x20 IF TG_OP = 'INSERT' THEN\n\
                 \x20   IF NEW.{new} IS NULL THEN\n\
                 \x20     NEW.{new} := {up};\n\
                 \x20   ELSE\n\
                 \x20     NEW.{old} := {down};\n\
                 \x20   END IF;\n\
                 \x20 ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} THEN\n\
                 \x20   NEW.{old} := {down};\n\
                 \x20 ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} THEN\n\
                 \x20   NEW.{new} := {up};\n\
                 \x20 END IF;\n\
                 \x20 RETURN NEW;",
                quiet = quote_literal(&name),
            ),
            name,
        }
    }

    /// The new column's value computed from `source`, an expression of the old type.
    /// Declared conversions are written over the column's name, so the name is bound to
    /// `source` in a one-row subquery.
    pub fn up_from(&self, source: &str) -> String {
        match self.ty {
            None => source.to_owned(),
            Some(ty) => {
                let column = quote_ident(self.column);
                let up = self.up.map_or_else(|| format!("{column}::{ty}"), embedded);
                format!("(SELECT {up} FROM (SELECT {source}) AS zdm_row({column}))")
            }
        }
    }

    /// The old column's value computed from `source`, an expression of the new type;
    /// without a declared `down`, a cast to the old type, which the runtime fills in for
    /// `{old_type}`.
    pub fn down_from(&self, source: &str) -> String {
        match self.ty {
            None => source.to_owned(),
            Some(_) => {
                let column = quote_ident(self.column);
                let down = self
                    .down
                    .map_or_else(|| format!("{column}::{{old_type}}"), embedded);
                format!("(SELECT {down} FROM (SELECT {source}) AS zdm_row({column}))")
            }
        }
    }

    /// Which rows of a batch the backfill writes into `target` from `value`. A rename
    /// copies values as they are, so only rows where the copy differs are written. A type
    /// change need not round-trip (`down(up(x))` may differ from `x`): a value the trigger
    /// wrote, perhaps from the other column, is the truth, so only rows where `target` is
    /// still NULL are filled. Either way the batch is a key range; the condition only
    /// skips rows inside it, it never searches the table.
    fn unwritten(&self, target: &str, value: &str) -> String {
        match self.ty {
            None => format!("{target} IS DISTINCT FROM {value}"),
            Some(_) => format!("{target} IS NULL"),
        }
    }

    fn carry(&self, description: String, lock: Lock, work: CarryWork, shape: String) -> Step {
        let table = self.table.sql();
        Step {
            description: description.into(),
            lock,
            table: Some(table.clone().into()),
            action: Action::Carry(Carry {
                table: table.into(),
                column: self.column.to_owned().into(),
                new_column: self.new_column.to_owned().into(),
                work,
                shape: shape.into(),
            }),
        }
    }

    pub fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [self.expand(id), self.sync(), self.backfill(), self.contract()];
        Plan::new(id, self.operation, description, phases)
    }

    /// The table, the old column and the new one, quoted.
    fn quoted(&self) -> (String, String, String) {
        (
            self.table.sql(),
            quote_ident(self.column),
            quote_ident(self.new_column),
        )
    }

    /// The new column's type as plans print it.
    fn new_type(&self) -> String {
        self.ty.map_or_else(
            || format!("<type of {}>", quote_ident(self.column)),
            str::to_owned,
        )
    }

    /// What a backfill batch runs first, so that the trigger stands aside for it.
    fn quiet(&self) -> String {
        format!("SET LOCAL zdm.quiet = {}", quote_literal(&self.trigger().name))
    }

    /// Expand: read and record, then the new column.
    fn expand(&self, id: &str) -> PhasePlan {
        let (table, old, new) = self.quoted();
        let summary = match self.ty {
            None => format!(
                "read {table}.{old} from the catalog, refusing what cannot be carried, and add the nullable \
                 column {new} of the same type (catalog only)"
            ),
            Some(ty) => format!(
                "read {table}.{old} from the catalog, refusing what cannot be carried or converted; a \
                 binary-coercible change to {ty} happens here in place (catalog only), any other adds the \
                 nullable column {new} {ty}"
            ),
        };
        let mut forward = vec![steps::table_exists(&table)];
        for (key, fragment) in [("up", self.up), ("down", self.down)] {
            forward.extend(fragment.and_then(|fragment| steps::fragment_reads(&table, key, fragment)));
        }
        forward.extend([
            steps::column_exists(&table, self.column, None),
            steps::column_absent(&table, self.new_column),
            self.inspect(),
        ]);
        forward.extend(self.conversion_check("before any change"));
        forward.push(self.add_column());
        let mut reverse = vec![];
        if let Some([alter, restore]) = self.in_place() {
            forward.push(alter);
            reverse.push(restore);
        }
        reverse.push(self.carry(
            format!("drop column {new}"),
            Lock::AccessExclusive,
            CarryWork::DropColumn,
            format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {new} -- only if this migration added it"),
        ));
        reverse.push(self.carry(
            "forget what expand recorded".to_owned(),
            Lock::None,
            CarryWork::Forget,
            format!(
                "DELETE FROM {STATE_SCHEMA}.carried_columns WHERE migration = {}",
                quote_literal(id)
            ),
        ));
        PhasePlan::new(summary, forward, reverse)
    }

    /// Reads the old column from the catalog and records what the new one must carry.
    fn inspect(&self) -> Step {
        let (table, old, new) = self.quoted();
        let new_type = self.new_type();
        self.carry(
            format!("read {old} from the catalog and record what {new} must carry"),
            Lock::AccessShare,
            CarryWork::Inspect {
                ty: self.ty.map(str::to_owned).map(Into::into),
                default: self.default.map(str::to_owned).map(Into::into),
                converts: self.up.is_some() || self.down.is_some(),
                up: self.ty.map(|_| self.up_from(&old)).map(Into::into),
                down: self.ty.map(|_| self.down_from(&new)).map(Into::into),
                triggers_checked: self.triggers_checked,
            },
            format!(
                "-- read {table}.{old}: type, collation, default, NOT NULL, comment, statistics target, \
                 CHECK, FOREIGN KEY and UNIQUE constraints, indexes, and everything else that depends \
                 on it (refused); try each definition rewritten for {new} {new_type} on a scratch copy"
            ),
        )
    }

    /// A type change counts the values that do not convert, before `phase`.
    fn conversion_check(&self, phase: &str) -> Option<Step> {
        let (table, old, _) = self.quoted();
        self.ty.map(|ty| {
            let conversion = self.up_from("$1");
            // The conversion applied to the column as the backfill's `UPDATE` applies it,
            // cast as the assignment casts it: one plain scan that fails at the first value
            // that does not convert.
            let scan = format!("SELECT count(({})::{ty}) FROM {table}", self.up_from(&old));
            let shape = format!(
                "{scan}\n-- only when a value does not convert, row by row, with samples: \
                 SELECT count(*) FROM {table} WHERE NOT <{conversion} converts to {ty}>"
            );
            self.carry(
                format!("check that every {old} converts to {ty} ({phase})"),
                Lock::AccessShare,
                CarryWork::CheckConvertible {
                    conversion: conversion.into(),
                    scan: scan.into(),
                },
                shape,
            )
        })
    }

    fn add_column(&self) -> Step {
        let (table, old, new) = self.quoted();
        self.carry(
            match self.ty {
                None => format!("add column {new}, of the type of {old}"),
                Some(ty) => format!("add column {new} {ty}"),
            },
            Lock::AccessExclusive,
            CarryWork::AddColumn,
            format!(
                "ALTER TABLE {table} ADD COLUMN {new} {} <COLLATE of {old}>",
                self.new_type()
            ),
        )
    }

    /// A type change's in-place alteration, when binary-coercible, and its reversal.
    fn in_place(&self) -> Option<[Step; 2]> {
        let ty = self.ty?;
        let (table, old, _) = self.quoted();
        Some([
            self.carry(
                format!("change {old} to {ty} in place, if that is binary-coercible"),
                Lock::AccessExclusive,
                CarryWork::AlterInPlace,
                format!(
                    "ALTER TABLE {table} ALTER COLUMN {old} TYPE {ty} -- only when no row and no index needs \
                     rewriting"
                ),
            ),
            self.carry(
                format!("change {old} back to its old type, if it was changed in place"),
                Lock::AccessExclusive,
                CarryWork::RestoreInPlace,
                format!(
                    "ALTER TABLE {table} ALTER COLUMN {old} TYPE <old type> -- only after an in-place change; \
                     narrowing scans or rewrites the table"
                ),
            ),
        ])
    }

    fn sync(&self) -> PhasePlan {
        let (_, old, new) = self.quoted();
        let trigger = self.trigger();
        let trigger_q = quote_ident(&trigger.name);
        PhasePlan::new(
            format!(
                "keep {old} and {new} in step on every INSERT and UPDATE, in both directions{}",
                if self.ty.is_some() {
                    ", converting with `up` and `down`"
                } else {
                    ""
                }
            ),
            vec![self.carry(
                format!("install trigger {trigger_q} syncing {old} and {new}"),
                Lock::ShareRowExclusive,
                CarryWork::Transaction(zdm_plan::texts(trigger.statements())),
                "-- in one transaction; {old_type}: the type of the old column, as expand recorded it"
                    .to_owned(),
            )],
            vec![self.carry(
                format!("drop trigger {trigger_q}"),
                Lock::AccessExclusive,
                CarryWork::Transaction(zdm_plan::texts(trigger.removal_statements())),
                "-- in one transaction".to_owned(),
            )],
        )
    }

    fn backfill(&self) -> PhasePlan {
        let (table, old, new) = self.quoted();
        let up = self.up_from(&old);
        let mut forward: Vec<Step> = self
            .conversion_check("rows written before the trigger")
            .into_iter()
            .collect();
        forward.push(self.copy(
            format!("set {new} from {old} in primary-key batches"),
            (&new, &up),
            false,
            "-- each batch in one transaction; the trigger stands aside for it",
        ));
        forward.push(self.carry(
            format!("build the indexes of {old} on {new} concurrently"),
            Lock::ShareUpdateExclusive,
            CarryWork::BuildIndexes(CarryTarget::New),
            format!(
                "CREATE [UNIQUE] INDEX CONCURRENTLY \"zdm_<index>\" ON {table} <definition with {new}> \
                 -- for each index and UNIQUE constraint on {old}"
            ),
        ));
        let reverse = vec![
            self.carry(
                format!("drop the indexes built on {new}"),
                Lock::ShareUpdateExclusive,
                CarryWork::DropIndexes,
                "DROP INDEX CONCURRENTLY IF EXISTS \"zdm_<index>\" -- for each carried index".to_owned(),
            ),
            self.carry(
                format!("set {new} back to NULL in primary-key batches"),
                Lock::RowExclusive,
                CarryWork::Backfill {
                    statements: zdm_plan::texts(vec![
                        self.quiet(),
                        format!("UPDATE {table} SET {new} = NULL WHERE {{range}} AND {new} IS NOT NULL"),
                    ]),
                    refill: false,
                },
                "-- each batch in one transaction; the trigger stands aside, so the old column keeps its values"
                    .to_owned(),
            ),
        ];
        PhasePlan::new(
            format!(
                "copy {old} into {new} in primary-key batches, then build the carried indexes concurrently"
            ),
            forward,
            reverse,
        )
    }

    /// The name the column has after the contract, quoted.
    fn final_name(&self) -> String {
        quote_ident(if self.keeps_name() {
            self.column
        } else {
            self.new_column
        })
    }

    fn contract(&self) -> PhasePlan {
        let (_, old, new) = self.quoted();
        let rename = self.keeps_name();
        let mut forward = self.constrain(CarryTarget::New, self.new_column);
        forward.push(self.swap());
        let mut reverse = vec![self.unswap(), self.refill()];
        reverse.extend(self.constrain(CarryTarget::Original, self.column));
        reverse.extend(self.rebuild_indexes());
        PhasePlan::new(
            format!(
                "carry NOT NULL, CHECK and FOREIGN KEY constraints to {new} (NOT VALID, then VALIDATE), then in one \
                 short transaction drop the trigger and {old}; {new} {} the default, the comment and the \
                 original names of the indexes and constraints",
                if rename {
                    format!("takes its place as {}, with", self.final_name())
                } else {
                    "takes over".to_owned()
                }
            ),
            forward,
            reverse,
        )
    }

    /// NOT NULL, CHECK and FOREIGN KEY constraints onto `column` (the new column's copies,
    /// or the originals back): NOT VALID first, validated in a later transaction.
    fn constrain(&self, target: CarryTarget, column: &str) -> Vec<Step> {
        let (table, old, _) = self.quoted();
        let column_q = quote_ident(column);
        let stand_in = quote_ident(&names::not_null_stand_in(self.table.name(), column));
        let (names, definitions) = match target {
            CarryTarget::New => ("\"zdm_<constraint>\"", format!("<definition with {column_q}>")),
            CarryTarget::Original => ("<constraint>", "<original definition>".to_owned()),
        };
        vec![
            self.carry(
                format!("check that no row has {column_q} NULL, if {old} was NOT NULL"),
                Lock::AccessShare,
                CarryWork::CheckNulls(target),
                format!("SELECT count(*) FROM {table} WHERE {column_q} IS NULL -- if {old} was NOT NULL"),
            ),
            self.carry(
                format!("add the NOT NULL stand-in and the CHECK and FOREIGN KEY constraints on {column_q}, NOT VALID"),
                Lock::AccessExclusive,
                CarryWork::AddConstraints(target),
                format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {stand_in} CHECK ({column_q} IS NOT NULL) NOT VALID; \
                     ALTER TABLE {table} ADD CONSTRAINT {names} {definitions} NOT VALID \
                     -- for each CHECK and FOREIGN KEY on {old}"
                ),
            ),
            self.carry(
                format!("validate the constraints on {column_q} while reads and writes go on"),
                Lock::ShareUpdateExclusive,
                CarryWork::ValidateConstraints(target),
                format!("ALTER TABLE {table} VALIDATE CONSTRAINT {names} -- each in its own transaction"),
            ),
            self.carry(
                format!("set {column_q} NOT NULL, proven by the valid check, and drop the check"),
                Lock::AccessExclusive,
                CarryWork::SetNotNull(target),
                format!(
                    "ALTER TABLE {table} ALTER COLUMN {column_q} SET NOT NULL; \
                     ALTER TABLE {table} DROP CONSTRAINT {stand_in}"
                ),
            ),
        ]
    }

    /// The one short transaction that drops the trigger and the old column and gives the
    /// new one its final name, default and the original names of the carried objects.
    fn swap(&self) -> Step {
        let (table, old, new) = self.quoted();
        let final_name = self.final_name();
        let rename = self.keeps_name();
        let rename_sql = if rename {
            format!("ALTER TABLE {table} RENAME COLUMN {new} TO {old}; ")
        } else {
            String::new()
        };
        self.carry(
            if rename {
                format!("drop the trigger and {old}; {new} takes its place as {final_name}")
            } else {
                format!("drop the trigger and {old}; {new} takes over its default, comment and object names")
            },
            Lock::AccessExclusive,
            CarryWork::Swap {
                statements: zdm_plan::texts(self.trigger().removal_statements()),
                rename,
            },
            format!(
                "-- in one transaction: ALTER TABLE {table} DROP COLUMN {old}; {rename_sql}\
                 ALTER TABLE {table} ALTER COLUMN {final_name} SET DEFAULT <default of {old}>; \
                 ALTER INDEX \"zdm_<index>\" RENAME TO <index>; \
                 ALTER TABLE {table} ADD CONSTRAINT <unique> UNIQUE USING INDEX \"zdm_<unique>\"; \
                 ALTER TABLE {table} RENAME CONSTRAINT \"zdm_<constraint>\" TO <constraint>; \
                 COMMENT ON COLUMN {table}.{final_name} IS <comment of {old}>"
            ),
        )
    }

    /// Undoes [`ColumnSwap::swap`]: the old column back beside the new one, empty, with the
    /// trigger.
    fn unswap(&self) -> Step {
        let (table, old, new) = self.quoted();
        let rename = self.keeps_name();
        self.carry(
            format!("bring {old} back beside {new} and reinstall the trigger"),
            Lock::AccessExclusive,
            CarryWork::Unswap {
                statements: zdm_plan::texts(self.trigger().statements()),
                rename,
            },
            format!(
                "-- in one transaction, after a swap: {}ALTER INDEX <index> RENAME TO \"zdm_<index>\"; \
                 ALTER TABLE {table} DROP CONSTRAINT <constraint or unique>; \
                 ALTER TABLE {table} ALTER COLUMN {new} DROP NOT NULL, DROP DEFAULT; \
                 ALTER TABLE {table} ADD COLUMN {old} <old type, collation>; \
                 ALTER TABLE {table} ALTER COLUMN {old} SET DEFAULT <old default>; <the sync trigger>. \
                 Before a swap: drop what the contract added to {new}",
                if rename {
                    format!("ALTER TABLE {table} RENAME COLUMN {old} TO {new}; ")
                } else {
                    String::new()
                }
            ),
        )
    }

    /// Refills the re-added old column from the new one.
    fn refill(&self) -> Step {
        let (_, old, new) = self.quoted();
        self.copy(
            format!("refill {old} from {new} in primary-key batches"),
            (&old, &self.down_from(&new)),
            true,
            "-- only after the swap was undone; each batch in one transaction",
        )
    }

    /// Sets `target` (quoted) to `value` in primary-key batches, in the rows where it is
    /// not written yet; the trigger stands aside. With `refill`, only after an unswap.
    fn copy(&self, description: String, (target, value): (&str, &str), refill: bool, shape: &str) -> Step {
        let table = self.table.sql();
        self.carry(
            description,
            Lock::RowExclusive,
            CarryWork::Backfill {
                statements: zdm_plan::texts(vec![
                    self.quiet(),
                    format!(
                        "UPDATE {table} SET {target} = {value} WHERE {{range}} AND {}",
                        self.unwritten(target, value)
                    ),
                ]),
                refill,
            },
            shape.to_owned(),
        )
    }

    /// The indexes and UNIQUE constraints the swap dropped, rebuilt concurrently.
    fn rebuild_indexes(&self) -> [Step; 2] {
        let (table, old, new) = self.quoted();
        [
            self.carry(
                format!("rebuild the indexes and UNIQUE constraints of {old} concurrently"),
                Lock::ShareUpdateExclusive,
                CarryWork::BuildIndexes(CarryTarget::Original),
                format!(
                    "CREATE [UNIQUE] INDEX CONCURRENTLY <index> ON {table} <original definition>; \
                     ALTER TABLE {table} ADD CONSTRAINT <unique> UNIQUE USING INDEX <unique> -- for each one dropped"
                ),
            ),
            self.carry(
                format!("rebuild the indexes of {new} concurrently"),
                Lock::ShareUpdateExclusive,
                CarryWork::BuildIndexes(CarryTarget::New),
                format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY \"zdm_<unique>\" ON {table} <definition with {new}> \
                     -- for each UNIQUE constraint dropped above"
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename() -> ColumnSwap<'static> {
        ColumnSwap {
            operation: "rename_column",
            table: crate::table::Table::new(None, "users"),
            column: "name",
            new_column: "full_name",
            ty: None,
            default: None,
            up: None,
            down: None,
            triggers_checked: false,
        }
    }

    fn change() -> ColumnSwap<'static> {
        ColumnSwap {
            operation: "change_type",
            table: crate::table::Table::new(None, "orders"),
            column: "amount",
            new_column: "amount_zdm_new",
            ty: Some("numeric(12,2)"),
            default: None,
            up: Some("amount * 1.0"),
            down: None,
            triggers_checked: false,
        }
    }

    fn sql(step: &Step) -> Vec<String> {
        match &step.action {
            Action::Carry(Carry {
                work:
                    CarryWork::Transaction(statements)
                    | CarryWork::Backfill { statements, .. }
                    | CarryWork::Swap { statements, .. }
                    | CarryWork::Unswap { statements, .. },
                ..
            }) => statements.iter().map(|statement| statement.to_string()).collect(),
            other => panic!("no statements in {other:?}"),
        }
    }

    #[test]
    fn the_trigger_fires_on_insert_and_update_and_syncs_both_ways() {
        let trigger = rename().trigger();
        assert_eq!(trigger.name, "zdm_sync_users_name_full_name");
        assert_eq!(trigger.timing, "BEFORE INSERT OR UPDATE");
        assert!(trigger
            .body
            .contains("IF NEW.\"full_name\" IS NULL THEN\n      NEW.\"full_name\" := NEW.\"name\";"));
        assert!(trigger.body.contains("ELSIF NEW.\"full_name\" IS DISTINCT FROM OLD.\"full_name\" THEN\n    NEW.\"name\" := NEW.\"full_name\";"));
        assert!(trigger.body.contains(
            "ELSIF NEW.\"name\" IS DISTINCT FROM OLD.\"name\" THEN\n    NEW.\"full_name\" := NEW.\"name\";"
        ));
        assert!(trigger
            .body
            .contains("current_setting('zdm.quiet', true) = 'zdm_sync_users_name_full_name'"));
    }

    #[test]
    fn conversions_bind_the_column_name_to_the_other_side() {
        let swap = change();
        assert_eq!(
            swap.up_from("NEW.\"amount\""),
            "(SELECT (amount * 1.0) FROM (SELECT NEW.\"amount\") AS zdm_row(\"amount\"))"
        );
        assert_eq!(
            swap.down_from("NEW.\"amount_zdm_new\""),
            "(SELECT \"amount\"::{old_type} FROM (SELECT NEW.\"amount_zdm_new\") AS zdm_row(\"amount\"))"
        );
        let plain = ColumnSwap { up: None, ..change() };
        assert_eq!(
            plain.up_from("$1"),
            "(SELECT \"amount\"::numeric(12,2) FROM (SELECT $1) AS zdm_row(\"amount\"))"
        );
    }

    #[test]
    fn the_backfill_pages_by_key_without_rescanning_for_nulls() {
        let plan = rename().plan("m", "");
        let statements = sql(&plan.phase(zdm_plan::Phase::Backfill).forward[0]);
        assert_eq!(
            statements,
            [
                "SET LOCAL zdm.quiet = 'zdm_sync_users_name_full_name'",
                "UPDATE \"users\" SET \"full_name\" = \"name\" WHERE {range} AND \"full_name\" IS DISTINCT FROM \"name\"",
            ]
        );
        assert!(!statements[1].contains("IS NULL"));
        assert_eq!(
            plan.phase(zdm_plan::Phase::Backfill).forward[0].lock,
            Lock::RowExclusive
        );
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Backfill).reverse[1])[1],
            "UPDATE \"users\" SET \"full_name\" = NULL WHERE {range} AND \"full_name\" IS NOT NULL"
        );
    }

    #[test]
    fn constraints_are_added_not_valid_and_validated_in_a_later_step() {
        let plan = rename().plan("m", "");
        let works: Vec<_> = plan
            .phase(zdm_plan::Phase::Contract)
            .forward
            .iter()
            .map(|step| match &step.action {
                Action::Carry(carry) => (carry.work.clone(), step.lock),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            works,
            [
                (CarryWork::CheckNulls(CarryTarget::New), Lock::AccessShare),
                (CarryWork::AddConstraints(CarryTarget::New), Lock::AccessExclusive),
                (
                    CarryWork::ValidateConstraints(CarryTarget::New),
                    Lock::ShareUpdateExclusive
                ),
                (CarryWork::SetNotNull(CarryTarget::New), Lock::AccessExclusive),
                (
                    CarryWork::Swap {
                        statements: zdm_plan::texts([
                            "DROP TRIGGER IF EXISTS \"zdm_sync_users_name_full_name\" ON \"users\"",
                            "DROP FUNCTION IF EXISTS \"zdm_sync_users_name_full_name\"()",
                        ]),
                        rename: false,
                    },
                    Lock::AccessExclusive
                ),
            ]
        );
    }

    #[test]
    fn the_contract_reversal_refills_and_restores_the_old_column() {
        let plan = change().plan("m", "");
        let reverse = &plan.phase(zdm_plan::Phase::Contract).reverse;
        assert!(matches!(
            &reverse[0].action,
            Action::Carry(Carry {
                work: CarryWork::Unswap { rename: true, .. },
                ..
            })
        ));
        assert_eq!(
            sql(&reverse[1])[1],
            "UPDATE \"orders\" SET \"amount\" = (SELECT \"amount\"::{old_type} FROM (SELECT \"amount_zdm_new\") AS \
             zdm_row(\"amount\")) WHERE {range} AND \"amount\" IS NULL"
        );
        // A type change fills only what the trigger has not written: `down(up(x))` need
        // not be `x`, and the new version's writes are the truth.
        assert_eq!(
            sql(&plan.phase(zdm_plan::Phase::Backfill).forward[1])[1],
            "UPDATE \"orders\" SET \"amount_zdm_new\" = (SELECT (amount * 1.0) FROM (SELECT \"amount\") AS \
             zdm_row(\"amount\")) WHERE {range} AND \"amount_zdm_new\" IS NULL"
        );
        let targets: Vec<_> = reverse[2..]
            .iter()
            .map(|step| match &step.action {
                Action::Carry(carry) => carry.work.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            targets,
            [
                CarryWork::CheckNulls(CarryTarget::Original),
                CarryWork::AddConstraints(CarryTarget::Original),
                CarryWork::ValidateConstraints(CarryTarget::Original),
                CarryWork::SetNotNull(CarryTarget::Original),
                CarryWork::BuildIndexes(CarryTarget::Original),
                CarryWork::BuildIndexes(CarryTarget::New),
            ]
        );
    }

    #[test]
    fn a_type_change_checks_conversions_before_any_change_and_again_before_the_backfill() {
        let plan = change().plan("m", "");
        let checks = |steps: &[Step]| {
            steps
                .iter()
                .filter(|step| {
                    matches!(
                        step.action,
                        Action::Carry(Carry {
                            work: CarryWork::CheckConvertible { .. },
                            ..
                        })
                    )
                })
                .count()
        };
        assert_eq!(checks(&plan.phase(zdm_plan::Phase::Expand).forward), 1);
        assert_eq!(checks(&plan.phase(zdm_plan::Phase::Backfill).forward), 1);
        // The check comes before the column is added (after the checks of what `up` reads).
        assert!(matches!(
            plan.phase(zdm_plan::Phase::Expand).forward[5].action,
            Action::Carry(Carry {
                work: CarryWork::CheckConvertible { .. },
                ..
            })
        ));
        assert_eq!(
            checks(&rename().plan("m", "").phase(zdm_plan::Phase::Expand).forward),
            0
        );
    }

    #[test]
    fn the_conversion_check_carries_its_one_scan_and_its_per_row_conversion() {
        let plan = change().plan("m", "");
        let Action::Carry(Carry {
            work: CarryWork::CheckConvertible { conversion, scan },
            ..
        }) = &plan.phase(zdm_plan::Phase::Expand).forward[5].action
        else {
            panic!("the sixth step of expand is not the conversion check");
        };
        assert_eq!(
            &**scan,
            "SELECT count(((SELECT (amount * 1.0) FROM (SELECT \"amount\") AS zdm_row(\"amount\")))::numeric(12,2)) \
             FROM \"orders\""
        );
        assert_eq!(
            &**conversion,
            "(SELECT (amount * 1.0) FROM (SELECT $1) AS zdm_row(\"amount\"))"
        );
    }
}
