//! `drop_constraint`: a CHECK, FOREIGN KEY, UNIQUE or PRIMARY KEY constraint goes at
//! contract, once no old version that relies on it runs. Dropping is catalog only (a
//! UNIQUE or PRIMARY KEY constraint takes its index along, which unlinks a file).
//!
//! Expand records the constraint (`pg_get_constraintdef`, its kind, whether it was
//! validated, and the definition of its index) in the state schema. The contract's
//! reversal re-adds it without a scan under ACCESS EXCLUSIVE: a CHECK or FOREIGN KEY
//! `NOT VALID`, then `VALIDATE` in a transaction of its own (when it was valid before); a
//! UNIQUE or PRIMARY KEY from its index built concurrently, then `ADD CONSTRAINT … USING
//! INDEX`. Refused at expand, naming the constraint: EXCLUDE and NOT NULL constraints,
//! inherited ones, deferrable UNIQUE and PRIMARY KEY constraints (`USING INDEX` cannot
//! say so) and keys a foreign key references.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{self, catalog_holds, regclass, with_recorded};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Action, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct DropConstraint {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    constraint: SpannedValue<String>,
}

impl DropConstraint {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "constraint"];
}

/// The record's item: a JSON object of the constraint's kind, definition, validation and
/// index definition.
const ITEM: &str = "constraint";

impl Operation for DropConstraint {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "constraint", &self.constraint);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(id),
            PhasePlan::nothing("nothing to sync: the constraint holds for both versions until the contract"),
            PhasePlan::nothing("nothing to backfill: a constraint holds no data"),
            self.contract(id),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl DropConstraint {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// `FROM pg_constraint AS c WHERE` the declared constraint.
    fn constraint_row(&self) -> String {
        format!(
            "FROM pg_constraint AS c WHERE c.conrelid = {} AND c.conname = {}",
            regclass(&self.table().sql()),
            quote_literal(&self.constraint)
        )
    }

    fn expand(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let table_q = table.sql();
        let constraint_q = quote_ident(&self.constraint);
        let row = self.constraint_row();
        let record = recorded::record(id);
        let definition = format!(
            "SELECT json_build_object('kind', c.contype, 'definition', pg_get_constraintdef(c.oid), \
             'validated', c.convalidated, 'index', CASE WHEN c.contype IN ('u', 'p') THEN pg_get_indexdef(c.conindid) END)::text {row}"
        );
        PhasePlan::new(
            format!("record constraint {constraint_q} of {table_q} in {record}; it holds until the contract"),
            vec![
                steps::table_exists(&table_q),
                catalog_holds(
                    format!("{table_q} has a constraint {constraint_q} zdm can re-add on reversal"),
                    &format!(
                        "EXISTS (SELECT 1 {row} AND c.contype IN ('c', 'f', 'u', 'p') AND c.conislocal AND c.coninhcount = 0 \
                         AND NOT (c.contype IN ('u', 'p') AND c.condeferrable) \
                         AND NOT EXISTS (SELECT 1 FROM pg_constraint AS f WHERE f.contype = 'f' AND c.contype IN ('u', 'p') \
                         AND f.conindid = c.conindid))"
                    ),
                    &format!(
                        "coalesce((SELECT CASE WHEN c.contype NOT IN ('c', 'f', 'u', 'p') THEN 'a constraint of kind ' || c.contype::text \
                         WHEN NOT c.conislocal OR c.coninhcount > 0 THEN 'an inherited constraint' \
                         WHEN c.condeferrable THEN 'a deferrable constraint' \
                         ELSE (SELECT string_agg(format('constraint %I of %s references it', f.conname, f.conrelid::regclass), ', ') \
                         FROM pg_constraint AS f WHERE f.contype = 'f' AND f.conindid = c.conindid) END {row}), 'no constraint of that name')"
                    ),
                ),
                Step::transaction(
                    format!("record constraint {constraint_q}"),
                    Lock::None,
                    &table_q,
                    record.keep(ITEM, &definition),
                ),
            ],
            vec![record.forget()],
        )
    }

    fn contract(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let table_q = table.sql();
        let constraint_q = quote_ident(&self.constraint);
        let record = recorded::record(id);
        PhasePlan::new(
            format!("drop constraint {constraint_q}: catalog only"),
            vec![Step::transaction(
                format!("drop constraint {constraint_q}"),
                Lock::AccessExclusive,
                &table_q,
                [format!("ALTER TABLE {table_q} DROP CONSTRAINT {constraint_q}")],
            )],
            vec![
                self.rebuild_index(&record),
                self.re_add(&record),
                self.re_validate(&record),
            ],
        )
    }

    /// A UNIQUE or PRIMARY KEY constraint's index, built concurrently from its record;
    /// nothing for the other kinds.
    fn rebuild_index(&self, record: &recorded::CatalogRecord) -> Step {
        let table = self.table();
        let index_q = table.beside(&self.constraint);
        Step {
            description: format!("rebuild the index of a UNIQUE or PRIMARY KEY {} concurrently", quote_ident(&self.constraint))
                .into(),
            lock: Lock::ShareUpdateExclusive,
            table: Some(table.sql().into()),
            action: Action::CreateIndexConcurrentlyFromQuery {
                index: index_q.into(),
                query: record
                    .select(
                        ITEM,
                        "regexp_replace(zdm_r.definition::jsonb ->> 'index', '^CREATE UNIQUE INDEX ', \
                         'CREATE UNIQUE INDEX CONCURRENTLY ')",
                        Some("zdm_r.definition::jsonb ->> 'kind' IN ('u', 'p')"),
                    )
                    .into(),
            },
        }
    }

    /// The constraint again: a CHECK or FOREIGN KEY `NOT VALID`, a UNIQUE or PRIMARY KEY
    /// over the rebuilt index; nothing when it is there already.
    fn re_add(&self, record: &recorded::CatalogRecord) -> Step {
        let table_q = self.table().sql();
        let body = format!(
            "  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {table_l}::regclass AND conname = {name_l}) THEN\n    \
             RETURN;\n  END IF;\n  IF definition::jsonb ->> 'kind' IN ('c', 'f') THEN\n    \
             EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s NOT VALID', {table_l}, {name_l},\n      \
             regexp_replace(definition::jsonb ->> 'definition', '\\s*NOT VALID$', ''));\n  ELSE\n    \
             EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s USING INDEX %I', {table_l}, {name_l},\n      \
             CASE definition::jsonb ->> 'kind' WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, {name_l});\n  END IF;",
            table_l = quote_literal(&table_q),
            name_l = quote_literal(&self.constraint),
        );
        let mut statements: Vec<String> = record.load(ITEM).into();
        statements.push(with_recorded(&body));
        Step::transaction(
            format!("re-add constraint {} (NOT VALID, or over its index)", quote_ident(&self.constraint)),
            Lock::AccessExclusive,
            &table_q,
            statements,
        )
    }

    /// `VALIDATE` of a re-added CHECK or FOREIGN KEY that was valid before, in a
    /// transaction of its own under SHARE UPDATE EXCLUSIVE: reads and writes go on.
    fn re_validate(&self, record: &recorded::CatalogRecord) -> Step {
        let table_q = self.table().sql();
        let body = format!(
            "  IF definition::jsonb ->> 'kind' IN ('c', 'f') AND (definition::jsonb ->> 'validated')::boolean THEN\n    \
             EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', {}, {});\n  END IF;",
            quote_literal(&table_q),
            quote_literal(&self.constraint),
        );
        let mut statements: Vec<String> = record.load(ITEM).into();
        statements.push(with_recorded(&body));
        Step::transaction(
            format!("validate constraint {} while reads and writes go on", quote_ident(&self.constraint)),
            Lock::ShareUpdateExclusive,
            &table_q,
            statements,
        )
    }
}
