//! `rename_index`: an index gets a new name. Only the catalog changes, so it happens at
//! contract, once no old version that might name the index (in a hint, a `CLUSTER`, a
//! monitoring query) runs; the reversal renames it back.
//!
//! Since PostgreSQL 12 the rename takes SHARE UPDATE EXCLUSIVE on the index alone, and the
//! runner bounds its wait with `lock_timeout` and retries like every catalog step.

use crate::ops::catalog_rename::catalog_rename;
use crate::ops::recorded::{catalog_holds, regclass};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::Relations;
use crate::sql::quote_ident;
use crate::table::Table;
use crate::validate::Errors;
use zdm_plan::{Lock, PhasePlan, Plan, Step};

catalog_rename!(RenameIndex);

impl Operation for RenameIndex {
    fn relations(&self) -> Relations {
        self.rename.relations()
    }

    fn validate(&self, errors: &mut Errors) {
        self.rename.validate(errors, "index's");
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let names = (id, Self::NAME, description);
        self.rename.plan(names, "an index name", self.expand(), self.contract())
    }
}

impl RenameIndex {
    fn expand(&self) -> PhasePlan {
        let table = self.table();
        let table_q = table.sql();
        let (from_q, to_q) = (table.beside(&self.from), table.beside(&self.to));
        PhasePlan::new(
            format!("nothing to change before the contract: check that {from_q} is an index of {table_q} and {to_q} is free"),
            vec![
                steps::table_exists(&table_q),
                index_of(&table, &self.from),
                catalog_holds(
                    format!("no relation named {to_q}"),
                    &format!("{} IS NULL", regclass(&to_q)),
                    &format!("'a relation ' || {}::text || ' exists'", regclass(&to_q)),
                ),
            ],
            vec![],
        )
    }

    fn contract(&self) -> PhasePlan {
        let table = self.table();
        let (from_q, to_q) = (table.beside(&self.from), table.beside(&self.to));
        PhasePlan::new(
            format!("rename index {from_q} to {}: catalog only", quote_ident(&self.to)),
            vec![rename(&table, &from_q, &self.to)],
            vec![rename_back(&table, &to_q, &self.from)],
        )
    }
}

/// Expand's check that `index` (unquoted) is an index of `table`.
pub fn index_of(table: &Table, index: &str) -> Step {
    let (table_q, index_q) = (table.sql(), table.beside(index));
    catalog_holds(
        format!("{index_q} is an index of {table_q}"),
        &format!(
            "EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = {} AND indrelid = {})",
            regclass(&index_q),
            regclass(&table_q)
        ),
        &format!(
            "coalesce((SELECT format('%s is a %s', c.oid::regclass, c.relkind) FROM pg_class c WHERE c.oid = {}), \
             'no relation of that name')",
            regclass(&index_q)
        ),
    )
}

fn rename(table: &Table, index_q: &str, to: &str) -> Step {
    Step::transaction(
        format!("rename index {index_q} to {}", quote_ident(to)),
        Lock::ShareUpdateExclusive,
        &table.sql(),
        [format!("ALTER INDEX {index_q} RENAME TO {}", quote_ident(to))],
    )
}

/// The reversal's rename, a no-op when the index has its old name already.
fn rename_back(table: &Table, index_q: &str, to: &str) -> Step {
    Step::transaction(
        format!("rename index {index_q} back to {}", quote_ident(to)),
        Lock::ShareUpdateExclusive,
        &table.sql(),
        [format!("ALTER INDEX IF EXISTS {index_q} RENAME TO {}", quote_ident(to))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> RenameIndex {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    #[test]
    fn names_are_checked_and_the_same_name_refused() {
        assert!(messages(quote!(table = "users", from = "a", to = "b")).is_empty());
        let errors = messages(quote!(table = "users", from = "a", to = "a"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`to` is the index's current name"), "{errors:?}");
        assert_eq!(messages(quote!(table = "", from = "", to = "b")).len(), 2);
    }

    #[test]
    fn the_rename_comes_at_contract_and_its_reversal_renames_back() {
        let plan = parse(quote!(schema = "app", table = "users", from = "a", to = "b")).plan("m", "");
        let statements = |steps: &[Step]| -> Vec<String> {
            steps
                .iter()
                .flat_map(|step| step.statements().into_iter().map(str::to_owned))
                .collect()
        };
        let contract = plan.phase(zdm_plan::Phase::Contract);
        assert_eq!(statements(&contract.forward), ["ALTER INDEX \"app\".\"a\" RENAME TO \"b\""]);
        assert_eq!(
            statements(&contract.reverse),
            ["ALTER INDEX IF EXISTS \"app\".\"b\" RENAME TO \"a\""]
        );
        assert!(statements(&plan.phase(zdm_plan::Phase::Expand).forward)
            .iter()
            .all(|sql| sql.starts_with("SELECT")));
    }
}
