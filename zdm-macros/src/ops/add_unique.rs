//! `add_unique`: a UNIQUE constraint without a scan under a lock that blocks writes. Expand
//! refuses while two rows share a key (counting them and showing a few keys), builds the
//! unique index concurrently under the constraint's name (an INVALID leftover of an
//! interrupted build is dropped and built again, as for `add_index`), then attaches it with
//! `ADD CONSTRAINT … UNIQUE USING INDEX`, which only writes the catalog.
//!
//! Why the constraint is attached in expand and not in the contract: the unique index
//! refuses duplicates from the moment it is valid, so the constraint changes nothing a
//! running version can notice (the same SQLSTATE, the same name in the error). Attached in
//! the contract instead, reverting the contract would have to build the index again:
//! PostgreSQL drops a constraint's index with it and cannot hand it back as a plain index.
//! In expand, every reversal is a drop.
//!
//! `add_primary_key` takes the same route; [`UniqueKey`] is what both share.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::names::Names;
use crate::ops::add_index::names as column_list;
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::quote_ident;
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Expectation, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddUnique {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    columns: Names,
    /// The constraint's (and its index's) name; `<table>_<columns>_key` by default, as
    /// PostgreSQL would name it.
    name: Option<SpannedValue<String>>,
}

impl AddUnique {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "columns", "name"];

    fn key(&self) -> UniqueKey<'_> {
        let columns: Vec<&str> = self.columns.names.iter().map(|name| name.as_str()).collect();
        let name = match &self.name {
            Some(name) => name.as_str().to_owned(),
            None => names::unique_key(&self.table, &columns),
        };
        UniqueKey {
            table: Table::declared(&self.schema, &self.table),
            columns,
            name,
            kind: "UNIQUE",
        }
    }
}

impl Operation for AddUnique {
    fn relations(&self) -> Relations {
        self.key().relations()
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        column_list(errors, "columns", &self.columns);
        if let Some(name) = &self.name {
            validate::identifier(errors, "name", name);
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        self.key().plan(id, Self::NAME, description, vec![])
    }
}

/// A key made unique through a concurrently built index: a UNIQUE constraint or a primary
/// key.
pub struct UniqueKey<'a> {
    pub table: Table,
    pub columns: Vec<&'a str>,
    /// The constraint's name, which its index has too.
    pub name: String,
    /// `UNIQUE` or `PRIMARY KEY`, as `ADD CONSTRAINT` spells it.
    pub kind: &'static str,
}

impl UniqueKey<'_> {
    pub fn relations(&self) -> Relations {
        let mut uses = vec![relations::table(&self.table)];
        uses.extend(self.columns.iter().map(|column| relations::column(&self.table, column)));
        Relations {
            uses,
            provides: Vec::new(),
        }
    }

    fn column_list(&self) -> String {
        self.columns.iter().map(|column| quote_ident(column)).collect::<Vec<_>>().join(", ")
    }

    /// The plan: `checks` (the primary key's own) run after the schema's expectations and
    /// before the duplicates are counted.
    pub fn plan(&self, id: &str, operation: &str, description: &str, checks: Vec<Step>) -> Plan {
        let table_q = self.table.sql();
        let name_q = quote_ident(&self.name);
        let index_q = self.table.beside(&self.name);
        let definition = format!("USING btree ({})", self.column_list());
        let mut forward = vec![steps::table_exists(&table_q)];
        forward.extend(self.columns.iter().map(|column| steps::column_exists(&table_q, column, None)));
        forward.push(steps::constraint_absent(&table_q, &self.name));
        forward.push(Step::expect(Expectation::IndexAbsentOrSame {
            table: table_q.clone().into(),
            index: index_q.clone().into(),
            unique: true,
            definition: definition.clone().into(),
        }));
        forward.extend(checks);
        forward.push(self.duplicates_check());
        forward.push(steps::create_index(&self.table, &self.name, &definition, true));
        forward.push(Step::transaction(
            format!("attach {index_q} as the {} constraint {name_q} (catalog only)", self.kind),
            Lock::AccessExclusive,
            &table_q,
            [format!(
                "ALTER TABLE {table_q} ADD CONSTRAINT {name_q} {} USING INDEX {name_q}",
                self.kind
            )],
        ));
        let reverse = vec![
            Step::transaction(
                format!("drop the constraint {name_q} and its index"),
                Lock::AccessExclusive,
                &table_q,
                [format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {name_q}")],
            ),
            // When the build ran and the attachment did not, the index is still a plain one.
            steps::drop_index(&self.table, &self.name),
        ];
        let expand = PhasePlan::new(
            format!(
                "refuse while two rows share ({}), build the unique index {index_q} concurrently (reads and \
                 writes go on; duplicates are refused from then on), attach it as the {} constraint",
                self.column_list(),
                self.kind
            ),
            forward,
            reverse,
        );
        let phases = [
            expand,
            PhasePlan::nothing("nothing to sync: PostgreSQL maintains the index on every write"),
            PhasePlan::nothing("nothing to backfill: the build indexed every existing row"),
            PhasePlan::nothing("nothing to contract: the constraint is complete once expand has run"),
        ];
        Plan::new(id, operation, description, phases)
    }

    /// Counts the rows sharing a key with another row (NULL keys are distinct, as in the
    /// index) and shows a few of those keys.
    fn duplicates_check(&self) -> Step {
        let table_q = self.table.sql();
        let keys = self.column_list();
        let filter = self
            .columns
            .iter()
            .map(|column| format!("{} IS NOT NULL", quote_ident(column)))
            .collect::<Vec<_>>()
            .join(" AND ");
        Step::check(
            format!("check that no two rows of {table_q} have the same ({keys})"),
            Lock::AccessShare,
            Some(&table_q),
            Check::new(
                format!("no two rows of {table_q} with the same ({keys})"),
                format!(
                    "SELECT coalesce(sum(zdm_rows), 0)::bigint FROM (SELECT count(*) AS zdm_rows FROM {table_q} \
                     WHERE {filter} GROUP BY {keys} HAVING count(*) > 1) AS zdm_duplicates"
                ),
                format!(
                    "SELECT format('%s appears %s times', ROW({keys})::text, count(*)) FROM {table_q} \
                     WHERE {filter} GROUP BY {keys} HAVING count(*) > 1 ORDER BY count(*) DESC, 1 LIMIT 5"
                ),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> AddUnique {
        crate::testing::parse(tokens)
    }

    #[test]
    fn expand_builds_the_index_concurrently_then_attaches_it() {
        let plan = parse(quote!(table = "users", columns = ["email", "tenant"])).plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        let statements: Vec<String> = expand
            .forward
            .iter()
            .flat_map(|step| step.statements().into_iter().map(str::to_owned))
            .collect();
        assert_eq!(
            &statements[1..],
            [
                "CREATE UNIQUE INDEX CONCURRENTLY \"users_email_tenant_key\" ON \"users\" USING btree (\"email\", \"tenant\")",
                "ALTER TABLE \"users\" ADD CONSTRAINT \"users_email_tenant_key\" UNIQUE USING INDEX \"users_email_tenant_key\"",
            ]
        );
        assert_eq!(expand.reverse.len(), 2);
    }
}
