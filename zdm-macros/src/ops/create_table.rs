//! `create_table`: a new table, with its columns, key and constraints, created at expand
//! in one statement. A new table is empty and unused, so nothing in it needs the safe
//! routes the other operations take (`NOT VALID`, concurrent builds): its constraints are
//! checked over no rows. A foreign key takes SHARE ROW EXCLUSIVE on the referenced table
//! for the moment of the `CREATE`, under `lock_timeout` like every step.
//!
//! Reverting expand drops the table only while it is empty: once the new version has
//! written rows, the reversal refuses, naming how many, unless the revert is given the
//! data-loss flag (`--allow-data-loss`, `Options::allow_data_loss`).

use std::collections::HashSet;

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::names::Names;
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct CreateTable {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    /// The columns, in order.
    #[darling(multiple)]
    column: Vec<DeclaredColumn>,
    /// The primary key's columns.
    primary_key: Option<Names>,
    /// A CHECK over several columns.
    check: Option<SpannedValue<String>>,
}

/// One `column(...)` of the declaration.
#[derive(Debug, FromMeta)]
pub struct DeclaredColumn {
    name: SpannedValue<String>,
    ty: SpannedValue<String>,
    default: Option<SpannedValue<String>>,
    not_null: Flag,
    unique: Flag,
    check: Option<SpannedValue<String>>,
    /// A table (of the same schema) this column's values must exist in.
    references: Option<SpannedValue<String>>,
    /// The referenced column; the referenced table's primary key when not given.
    references_column: Option<SpannedValue<String>>,
}

impl CreateTable {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "primary_key", "check"];
}

impl Operation for CreateTable {
    fn relations(&self) -> Relations {
        let table = self.table();
        let mut provides = vec![relations::table(&table)];
        provides.extend(self.column.iter().map(|column| relations::column(&table, &column.name)));
        Relations {
            uses: self
                .column
                .iter()
                .filter_map(|column| column.references.as_ref())
                .map(|references| relations::table(&Table::declared(&self.schema, references)))
                .collect(),
            provides,
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        if self.column.is_empty() {
            validate::push(
                errors,
                self.table.span(),
                "`create_table` needs at least one `column(name = \"…\", ty = \"…\")`",
            );
        }
        let mut seen = HashSet::new();
        for column in &self.column {
            column.validate(errors);
            if !seen.insert(column.name.as_str()) {
                validate::push(
                    errors,
                    column.name.span(),
                    format_args!("column \"{}\" is declared twice", column.name.as_str()),
                );
            }
        }
        if let Some(key) = &self.primary_key {
            if key.names.is_empty() {
                validate::push(errors, key.span, "`primary_key` is an empty list: name its columns");
            }
            for name in &key.names {
                if !seen.contains(name.as_str()) {
                    validate::push(
                        errors,
                        name.span(),
                        format_args!("`primary_key` names \"{}\", which is not a declared column", name.as_str()),
                    );
                }
            }
        }
        if let Some(check) = &self.check {
            validate::condition(errors, "check", check);
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let table_q = self.table().sql();
        let sync = PhasePlan::nothing(format!("nothing to sync: only the new version uses {table_q}"));
        let backfill = PhasePlan::nothing(format!("nothing to backfill: {table_q} starts empty"));
        let contract = PhasePlan::nothing("nothing to contract: the table is the new shape");
        Plan::new(id, Self::NAME, description, [self.expand(), sync, backfill, contract])
    }
}

impl DeclaredColumn {
    fn validate(&self, errors: &mut Errors) {
        validate::identifier(errors, "name", &self.name);
        validate::type_name(errors, "ty", &self.ty);
        if let Some(default) = &self.default {
            validate::expression(errors, "default", default);
        }
        if let Some(check) = &self.check {
            validate::condition(errors, "check", check);
        }
        if let Some(references) = &self.references {
            validate::table(errors, "references", references);
        }
        match (&self.references, &self.references_column) {
            (None, Some(column)) => validate::push(
                errors,
                column.span(),
                "`references_column` needs `references`, the table the column refers to",
            ),
            (_, Some(column)) => validate::identifier(errors, "references_column", column),
            _ => {}
        }
    }

    /// The column's definition in `CREATE TABLE`.
    fn definition(&self, schema: &Option<SpannedValue<String>>) -> String {
        let mut sql = format!("{} {}", quote_ident(&self.name), self.ty.as_str());
        if let Some(default) = &self.default {
            sql.push_str(&format!(" DEFAULT ({})", default.as_str()));
        }
        if self.not_null.is_present() {
            sql.push_str(" NOT NULL");
        }
        if self.unique.is_present() {
            sql.push_str(" UNIQUE");
        }
        if let Some(check) = &self.check {
            sql.push_str(&format!(" CHECK ({})", check.as_str()));
        }
        if let Some(references) = &self.references {
            sql.push_str(&format!(" REFERENCES {}", Table::declared(schema, references).sql()));
            if let Some(column) = &self.references_column {
                sql.push_str(&format!(" ({})", quote_ident(column)));
            }
        }
        sql
    }
}

impl CreateTable {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn create_statement(&self) -> String {
        let mut parts: Vec<String> = self.column.iter().map(|column| column.definition(&self.schema)).collect();
        if let Some(key) = &self.primary_key {
            let names: Vec<String> = key.names.iter().map(|name| quote_ident(name)).collect();
            parts.push(format!("PRIMARY KEY ({})", names.join(", ")));
        }
        if let Some(check) = &self.check {
            parts.push(format!("CHECK ({})", check.as_str()));
        }
        format!("CREATE TABLE {} (\n  {}\n)", self.table().sql(), parts.join(",\n  "))
    }

    fn expand(&self) -> PhasePlan {
        let table_q = self.table().sql();
        let referenced: Vec<String> = self
            .column
            .iter()
            .filter_map(|column| column.references.as_ref())
            .map(|references| Table::declared(&self.schema, references).sql())
            .collect();
        let mut forward = vec![steps::table_absent(&table_q)];
        forward.extend(referenced.iter().map(|table| steps::table_exists(table)));
        // The lock that can keep anyone waiting is the one on a referenced table.
        let (lock, locked) = match referenced.first() {
            Some(table) => (Lock::ShareRowExclusive, table.clone()),
            None => (Lock::AccessExclusive, table_q.clone()),
        };
        forward.push(Step::transaction(
            format!("create {table_q}"),
            lock,
            &locked,
            [self.create_statement()],
        ));
        PhasePlan::new(
            format!("create {table_q}, empty"),
            forward,
            vec![Step::transaction(
                format!("drop {table_q} if it is empty (or with --allow-data-loss)"),
                Lock::AccessExclusive,
                &table_q,
                [self.drop_statement()],
            )],
        )
    }

    /// Drops the table unless it holds rows and the revert was not told it may lose them.
    fn drop_statement(&self) -> String {
        let table_q = self.table().sql();
        let table_lit = quote_literal(&table_q);
        format!(
            "DO {}",
            dollar_quote(&format!(
                "\nDECLARE\n\
                 \x20 zdm_rows bigint;\n\
                 BEGIN\n\
                 \x20 IF to_regclass({table_lit}) IS NULL THEN\n\
                 \x20   RETURN;\n\
                 \x20 END IF;\n\
                 \x20 LOCK TABLE {table_q} IN ACCESS EXCLUSIVE MODE;\n\
                 \x20 SELECT count(*) INTO zdm_rows FROM {table_q};\n\
                 \x20 IF zdm_rows > 0 AND current_setting('zdm.allow_data_loss', true) IS DISTINCT FROM 'on' THEN\n\
                 \x20   RAISE EXCEPTION 'refusing to drop %: it holds % row(s); revert with --allow-data-loss to drop them', {table_lit}, zdm_rows;\n\
                 \x20 END IF;\n\
                 \x20 DROP TABLE {table_q};\n\
                 END\n"
            ))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Phase};

    fn parse(tokens: proc_macro2::TokenStream) -> CreateTable {
        crate::testing::parse(tokens)
    }

    fn messages(create: &CreateTable) -> Vec<String> {
        crate::testing::messages(|errors| create.validate(errors))
    }

    #[test]
    fn expand_creates_the_table_in_one_statement() {
        let plan = parse(quote!(
            table = "events",
            column(name = "id", ty = "bigint"),
            column(name = "item_id", ty = "bigint", not_null, references = "items"),
            column(name = "kind", ty = "text", default = "'note'", not_null, unique, check = "kind <> ''"),
            primary_key = "id",
            check = "id > 0"
        ))
        .plan("m", "");
        let step = &plan.phase(Phase::Expand).forward[2];
        assert_eq!(step.lock, Lock::ShareRowExclusive);
        let Action::Transaction(sql) = &step.action else { panic!("{step:?}") };
        assert_eq!(
            sql[0],
            "CREATE TABLE \"events\" (\n  \"id\" bigint,\n  \"item_id\" bigint NOT NULL REFERENCES \"items\",\n  \
             \"kind\" text DEFAULT ('note') NOT NULL UNIQUE CHECK (kind <> ''),\n  PRIMARY KEY (\"id\"),\n  CHECK (id > 0)\n)"
        );
        for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
            assert!(plan.phase(phase).forward.is_empty());
        }
    }

    #[test]
    fn every_mistake_is_named() {
        let errors = messages(&parse(quote!(
            table = "events",
            column(name = "id", ty = "bigint", references_column = "id"),
            column(name = "id", ty = "text"),
            primary_key = ["id", "missing"]
        )));
        assert_eq!(
            errors,
            [
                "`references_column` needs `references`, the table the column refers to",
                "column \"id\" is declared twice",
                "`primary_key` names \"missing\", which is not a declared column",
            ]
        );
        assert_eq!(
            messages(&parse(quote!(table = "events"))),
            ["`create_table` needs at least one `column(name = \"…\", ty = \"…\")`"]
        );
    }
}
