//! `add_primary_key`: a primary key for a table that has none, by `add_unique`'s route (see
//! [`UniqueKey`]): duplicates refused first, the unique index built concurrently, then
//! `ADD CONSTRAINT … PRIMARY KEY USING INDEX`.
//!
//! Every key column must be NOT NULL already, and a nullable one is refused, named, before
//! any change: on a nullable column, `PRIMARY KEY USING INDEX` would run `SET NOT NULL`
//! itself, a full scan under ACCESS EXCLUSIVE. `add_not_null` makes a column NOT NULL
//! without that scan; declare it first and name it in `after(...)`.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::names::Names;
use crate::ops::add_index::names as column_list;
use crate::ops::add_unique::UniqueKey;
use crate::ops::Operation;
use crate::relations::Relations;
use crate::sql::quote_literal;
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Lock, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddPrimaryKey {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    columns: Names,
    /// The constraint's (and its index's) name; `<table>_pkey` by default, as PostgreSQL
    /// would name it.
    name: Option<SpannedValue<String>>,
}

impl AddPrimaryKey {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "columns", "name"];

    fn key(&self) -> UniqueKey<'_> {
        let name = match &self.name {
            Some(name) => name.as_str().to_owned(),
            None => names::primary_key(&self.table),
        };
        UniqueKey {
            table: Table::declared(&self.schema, &self.table),
            columns: self.columns.names.iter().map(|name| name.as_str()).collect(),
            name,
            kind: "PRIMARY KEY",
        }
    }

    /// The table has no primary key, and every key column is NOT NULL.
    fn checks(&self, key: &UniqueKey<'_>) -> Vec<Step> {
        let table_q = key.table.sql();
        let table_l = quote_literal(&table_q);
        let existing = format!("FROM pg_constraint WHERE conrelid = to_regclass({table_l}) AND contype = 'p'");
        let columns_l = key.columns.iter().map(|column| quote_literal(column)).collect::<Vec<_>>().join(", ");
        let nullable = format!(
            "FROM pg_attribute WHERE attrelid = to_regclass({table_l}) AND attname = ANY (ARRAY[{columns_l}]::name[]) \
             AND NOT attnotnull"
        );
        vec![
            Step::check(
                format!("check that {table_q} has no primary key"),
                Lock::None,
                None,
                Check::new(
                    format!("no primary key on {table_q}"),
                    format!("SELECT count(*) {existing}"),
                    format!("SELECT format('%I is its primary key', conname) {existing}"),
                ),
            ),
            Step::check(
                format!("check that every key column of {table_q} is NOT NULL"),
                Lock::None,
                None,
                Check::new(
                    format!("every key column of {table_q} NOT NULL (make one so first with add_not_null)"),
                    format!("SELECT count(*) {nullable}"),
                    format!("SELECT format('%I accepts NULLs', attname) {nullable} ORDER BY attnum"),
                ),
            ),
        ]
    }
}

impl Operation for AddPrimaryKey {
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
        let key = self.key();
        let checks = self.checks(&key);
        key.plan(id, Self::NAME, description, checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn expand_refuses_a_primary_key_or_a_nullable_column_then_attaches_the_index() {
        let operation: AddPrimaryKey = crate::testing::parse(quote!(table = "events", columns = ["id"]));
        let plan = operation.plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        let last = expand.forward.last().unwrap().statements();
        assert_eq!(
            last,
            ["ALTER TABLE \"events\" ADD CONSTRAINT \"events_pkey\" PRIMARY KEY USING INDEX \"events_pkey\""]
        );
        let checks: Vec<&str> = expand.forward.iter().filter_map(|step| match &step.action {
            zdm_plan::Action::Check(check) => Some(&*check.expectation),
            _ => None,
        }).collect();
        assert_eq!(
            checks,
            [
                "no primary key on \"events\"",
                "every key column of \"events\" NOT NULL (make one so first with add_not_null)",
                "no two rows of \"events\" with the same (\"id\")",
            ]
        );
    }
}
