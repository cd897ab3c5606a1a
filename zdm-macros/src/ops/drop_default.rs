//! `drop_default`: a column loses its default. The old version may rely on it (an insert
//! that leaves a NOT NULL column out), so the default goes at contract, once no old
//! version runs. Expand records it in the state schema, and the contract's reversal puts
//! exactly that back.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{self, catalog_holds};
use crate::ops::set_default::{current_default, restore_default, DEFAULT};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::quote_ident;
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct DropDefault {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
}

impl DropDefault {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column"];
}

impl Operation for DropDefault {
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
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(id),
            PhasePlan::nothing("nothing to sync: the default stays until the contract"),
            PhasePlan::nothing("nothing to backfill: existing rows keep their values"),
            self.contract(id),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl DropDefault {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn expand(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let column = self.column.as_str();
        let (table_q, column_q) = (table.sql(), quote_ident(column));
        let record = recorded::record(id);
        let current = current_default(&table_q, column);
        PhasePlan::new(
            format!("record the default of {table_q}.{column_q} in {record}; it stays until the contract"),
            vec![
                steps::table_exists(&table_q),
                steps::column_exists(&table_q, column, None),
                catalog_holds(
                    format!("{table_q}.{column_q} has a default"),
                    &format!("({current}) IS NOT NULL"),
                    "'it has none'",
                ),
                Step::transaction(
                    format!("record the default of {column_q}"),
                    Lock::None,
                    &table_q,
                    record.keep(DEFAULT, &current),
                ),
            ],
            vec![record.forget()],
        )
    }

    fn contract(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let column = self.column.as_str();
        let (table_q, column_q) = (table.sql(), quote_ident(column));
        PhasePlan::new(
            format!("drop the default of {table_q}.{column_q}: catalog only"),
            vec![Step::transaction(
                format!("drop the default of {column_q}"),
                Lock::AccessExclusive,
                &table_q,
                [format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP DEFAULT")],
            )],
            vec![restore_default(&recorded::record(id), &table, column)],
        )
    }
}
