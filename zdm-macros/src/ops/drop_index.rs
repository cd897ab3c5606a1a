//! `drop_index`: an index goes, with `DROP INDEX CONCURRENTLY` at contract, so that the
//! old version keeps the index its queries were planned with until none of it runs, and
//! no write waits behind an ACCESS EXCLUSIVE lock.
//!
//! Expand records the index's definition (`pg_get_indexdef`) in the state schema; the
//! contract's reversal rebuilds it concurrently from that record, an INVALID leftover of
//! an interrupted rebuild dropped first, as `add_index` does. An index that backs a
//! constraint (a primary key, a unique constraint, what a foreign key references) is
//! refused, naming the constraint: `drop_constraint` is the operation for it. So are the
//! replica identity index (dropping it would leave the table with none) and the index of a
//! partitioned table, which `DROP INDEX CONCURRENTLY` cannot drop.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{self, catalog_holds, regclass};
use crate::ops::rename_index::index_of;
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Action, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct DropIndex {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    index: SpannedValue<String>,
}

impl DropIndex {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "index"];
}

/// The record's item.
const ITEM: &str = "index";

impl Operation for DropIndex {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "index", &self.index);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(id),
            PhasePlan::nothing("nothing to sync: the index is kept up to date by the server"),
            PhasePlan::nothing("nothing to backfill: an index holds no data of its own"),
            self.contract(id),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl DropIndex {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn expand(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let (table_q, index_q) = (table.sql(), table.beside(&self.index));
        let record = recorded::record(id);
        let backing = format!("FROM pg_constraint WHERE conindid = {}", regclass(&index_q));
        PhasePlan::new(
            format!("record the definition of {index_q} in {record}; the index stays until the contract"),
            vec![
                steps::table_exists(&table_q),
                index_of(&table, &self.index),
                catalog_holds(
                    format!("{index_q} backs no constraint"),
                    &format!("NOT EXISTS (SELECT 1 {backing})"),
                    &format!(
                        "(SELECT string_agg(format('constraint %I of %s uses it', conname, conrelid::regclass), ', ' \
                         ORDER BY conname) {backing})"
                    ),
                ),
                catalog_holds(
                    format!(
                        "{index_q} is neither the replica identity nor the index of a partitioned table \
                         (DROP INDEX CONCURRENTLY cannot drop that one)"
                    ),
                    &format!(
                        "NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                         WHERE i.indexrelid = {index} AND (i.indisreplident OR c.relkind = 'I'))",
                        index = regclass(&index_q)
                    ),
                    &format!(
                        "(SELECT CASE WHEN i.indisreplident THEN 'the replica identity of ' || i.indrelid::regclass \
                         ELSE 'an index of the partitioned table ' || i.indrelid::regclass END FROM pg_index i \
                         WHERE i.indexrelid = {})",
                        regclass(&index_q)
                    ),
                ),
                Step::transaction(
                    format!("record the definition of {index_q}"),
                    Lock::None,
                    &table_q,
                    record.keep(ITEM, &format!("SELECT pg_get_indexdef({})", regclass(&index_q))),
                ),
            ],
            vec![record.forget()],
        )
    }

    fn contract(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let index_q = table.beside(&self.index);
        PhasePlan::new(
            format!("drop index {index_q} concurrently; reads and writes go on"),
            vec![steps::drop_index(&table, &self.index)],
            vec![rebuild(&table, &index_q, &recorded::record(id))],
        )
    }
}

/// Builds the recorded index again, concurrently, from its recorded definition.
fn rebuild(table: &Table, index_q: &str, record: &recorded::CatalogRecord) -> Step {
    Step {
        description: format!("rebuild index {index_q} concurrently from the definition recorded in {record}").into(),
        lock: Lock::ShareUpdateExclusive,
        table: Some(table.sql().into()),
        action: Action::CreateIndexConcurrentlyFromQuery {
            index: index_q.to_owned().into(),
            query: record
                .select(
                    ITEM,
                    "regexp_replace(zdm_r.definition, '^CREATE (UNIQUE )?INDEX ', 'CREATE \\1INDEX CONCURRENTLY ')",
                    None,
                )
                .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn contract_drops_concurrently_and_its_reversal_rebuilds_from_the_record() {
        let plan = crate::testing::parse::<DropIndex>(quote!(table = "t", index = "t_a_idx")).plan("m", "");
        let contract = plan.phase(zdm_plan::Phase::Contract);
        assert_eq!(contract.forward[0].statements(), ["DROP INDEX CONCURRENTLY IF EXISTS \"t_a_idx\""]);
        assert_eq!(
            contract.reverse[0].statements(),
            ["SELECT regexp_replace(zdm_r.definition, '^CREATE (UNIQUE )?INDEX ', 'CREATE \\1INDEX CONCURRENTLY ') \
              FROM {state}.\"m_catalog\" AS zdm_r WHERE zdm_r.item = 'index'"]
        );
        assert!(!contract.reverse[0].transactional());
    }
}
