//! `set_replica_identity`: what an UPDATE or DELETE writes to the WAL for logical
//! replication to find the row (`DEFAULT`: the primary key, `FULL`: every column,
//! `NOTHING`, or a unique index). Only the catalog changes, at expand; expand records the
//! setting it replaces (and its index) in the state schema, and its reversal restores it.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{self, regclass, with_recorded};
use crate::ops::rename_index::index_of;
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct SetReplicaIdentity {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    identity: Option<SpannedValue<String>>,
    index: Option<SpannedValue<String>>,
}

impl SetReplicaIdentity {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "identity", "index"];
}

/// The settings `identity` names; an index is given with `index`.
const IDENTITIES: &[&str] = &["default", "full", "nothing"];

/// The record's item.
const ITEM: &str = "replica_identity";

impl Operation for SetReplicaIdentity {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        match (&self.identity, &self.index) {
            (Some(_), Some(index)) => validate::push(
                errors,
                index.span(),
                "`set_replica_identity` takes `identity` or `index`, not both; `index` alone means REPLICA IDENTITY USING INDEX",
            ),
            (None, None) => validate::push(
                errors,
                self.table.span(),
                "`set_replica_identity` needs `identity = \"default\"`, `\"full\"` or `\"nothing\"`, or `index = \"…\"`",
            ),
            (Some(identity), None) if !IDENTITIES.contains(&identity.to_ascii_lowercase().as_str()) => validate::push(
                errors,
                identity.span(),
                format_args!(
                    "`identity` is \"{}\"; expected \"default\", \"full\" or \"nothing\" (for an index, give `index = \"…\"` instead)",
                    **identity
                ),
            ),
            (None, Some(index)) => validate::identifier(errors, "index", index),
            (Some(_), None) => {}
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(id),
            PhasePlan::nothing("nothing to sync: the replica identity is not data"),
            PhasePlan::nothing("nothing to backfill: the replica identity is not data"),
            PhasePlan::nothing("nothing to contract: the replica identity was set at expand"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl SetReplicaIdentity {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The clause after `REPLICA IDENTITY`.
    fn clause(&self) -> String {
        match (&self.identity, &self.index) {
            (_, Some(index)) => format!("USING INDEX {}", quote_ident(index)),
            (Some(identity), None) => identity.to_ascii_uppercase(),
            (None, None) => unreachable!("validated: one of `identity` and `index` is given"),
        }
    }

    fn expand(&self, id: &str) -> PhasePlan {
        let table = self.table();
        let table_q = table.sql();
        let record = recorded::record(id);
        let clause = self.clause();
        let current = format!(
            "SELECT CASE c.relreplident WHEN 'd' THEN 'DEFAULT' WHEN 'f' THEN 'FULL' WHEN 'n' THEN 'NOTHING' \
             ELSE 'USING INDEX ' || (SELECT quote_ident(ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = c.oid AND i.indisreplident) END FROM pg_class c WHERE c.oid = {}",
            regclass(&table_q)
        );
        let mut change: Vec<String> = record.keep(ITEM, &current).into();
        change.push(format!("ALTER TABLE {table_q} REPLICA IDENTITY {clause}"));
        let mut forward = vec![steps::table_exists(&table_q)];
        if let Some(index) = &self.index {
            forward.push(index_of(&table, index));
        }
        forward.push(Step::transaction(
            format!("record the replica identity of {table_q} and set it to {clause}"),
            Lock::AccessExclusive,
            &table_q,
            change,
        ));
        let body = format!(
            "  EXECUTE format('ALTER TABLE %s REPLICA IDENTITY %s', {}, definition);",
            quote_literal(&table_q)
        );
        let mut restore: Vec<String> = record.load(ITEM).into();
        restore.push(with_recorded(&body));
        PhasePlan::new(
            format!("set the replica identity of {table_q} to {clause} (catalog only), recording the one it replaces in {record}"),
            forward,
            vec![
                Step::transaction(
                    format!("put back the replica identity recorded in {record}"),
                    Lock::AccessExclusive,
                    &table_q,
                    restore,
                ),
                record.forget(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| crate::testing::parse::<SetReplicaIdentity>(tokens).validate(errors))
    }

    #[test]
    fn one_of_identity_and_index_is_given() {
        assert!(messages(quote!(table = "t", identity = "FULL")).is_empty());
        assert!(messages(quote!(table = "t", index = "t_key")).is_empty());
        assert!(messages(quote!(table = "t"))[0].starts_with("`set_replica_identity` needs"));
        assert!(messages(quote!(table = "t", identity = "full", index = "i"))[0].contains("not both"));
        assert!(messages(quote!(table = "t", identity = "index"))[0].starts_with("`identity` is \"index\""));
    }
}
