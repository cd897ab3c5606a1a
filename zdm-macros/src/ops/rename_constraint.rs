//! `rename_constraint`: a constraint of a table gets a new name. Only the catalog changes,
//! so it happens at contract, once no old version that might match the name (in the
//! handling of a violation, say) runs; the reversal renames it back. A UNIQUE, PRIMARY KEY
//! or EXCLUDE constraint takes its index's name along, so that name must be free too.

use crate::ops::catalog_rename::catalog_rename;
use crate::ops::recorded::{catalog_holds, regclass};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::Relations;
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::Errors;
use zdm_plan::{Lock, PhasePlan, Plan, Step};

catalog_rename!(RenameConstraint);

impl Operation for RenameConstraint {
    fn relations(&self) -> Relations {
        self.rename.relations()
    }

    fn validate(&self, errors: &mut Errors) {
        self.rename.validate(errors, "constraint's");
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let names = (id, Self::NAME, description);
        self.rename.plan(names, "a constraint's name", self.expand(), self.contract())
    }
}

impl RenameConstraint {
    fn expand(&self) -> PhasePlan {
        let table = self.table();
        let table_q = table.sql();
        let (from_q, to_q) = (quote_ident(&self.from), quote_ident(&self.to));
        let on_table = format!("conrelid = {}", regclass(&table_q));
        PhasePlan::new(
            format!("nothing to change before the contract: check that {table_q} has a constraint {from_q} and none named {to_q}"),
            vec![
                steps::table_exists(&table_q),
                catalog_holds(
                    format!("{table_q} has a constraint {from_q}"),
                    &format!(
                        "EXISTS (SELECT 1 FROM pg_constraint WHERE {on_table} AND conname = {})",
                        quote_literal(&self.from)
                    ),
                    "'no constraint of that name'",
                ),
                steps::constraint_absent(&table_q, &self.to),
                // The index of a UNIQUE, PRIMARY KEY or EXCLUDE constraint is renamed with it.
                catalog_holds(
                    format!("{} is free for the index of {from_q}, if it has one", table.beside(&self.to)),
                    &format!(
                        "NOT EXISTS (SELECT 1 FROM pg_constraint WHERE {on_table} AND conname = {} AND conindid <> 0) \
                         OR {} IS NULL",
                        quote_literal(&self.from),
                        regclass(&table.beside(&self.to))
                    ),
                    &format!("'a relation ' || {}::text || ' exists'", regclass(&table.beside(&self.to))),
                ),
            ],
            vec![],
        )
    }

    fn contract(&self) -> PhasePlan {
        let table = self.table();
        let (from_q, to_q) = (quote_ident(&self.from), quote_ident(&self.to));
        PhasePlan::new(
            format!("rename constraint {from_q} to {to_q}: catalog only"),
            vec![Step::transaction(
                format!("rename constraint {from_q} to {to_q}"),
                Lock::AccessExclusive,
                &table.sql(),
                [format!("ALTER TABLE {} RENAME CONSTRAINT {from_q} TO {to_q}", table.sql())],
            )],
            vec![rename_back(&table, &self.to, &self.from)],
        )
    }
}

/// Renames `from` back to `to`, a no-op when there is no constraint `from` any more.
fn rename_back(table: &Table, from: &str, to: &str) -> Step {
    let table_q = table.sql();
    let body = format!(
        "BEGIN\n  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {table_l}::regclass AND conname = {from_l}) THEN\n    \
         EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', {table_l}, {from_l}, {to_l});\n  END IF;\nEND\n",
        table_l = quote_literal(&table_q),
        from_l = quote_literal(from),
        to_l = quote_literal(to),
    );
    Step::transaction(
        format!("rename constraint {} back to {}", quote_ident(from), quote_ident(to)),
        Lock::AccessExclusive,
        &table_q,
        [format!("DO {}", dollar_quote(&body))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> RenameConstraint {
        crate::testing::parse(tokens)
    }

    #[test]
    fn the_same_name_is_refused() {
        let errors = crate::testing::messages(|errors| {
            parse(quote!(table = "users", from = "c", to = "c")).validate(errors)
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`to` is the constraint's current name"), "{errors:?}");
    }

    #[test]
    fn the_rename_comes_at_contract() {
        let plan = parse(quote!(table = "users", from = "c", to = "d")).plan("m", "");
        let contract = plan.phase(zdm_plan::Phase::Contract);
        assert_eq!(
            contract.forward[0].statements(),
            ["ALTER TABLE \"users\" RENAME CONSTRAINT \"c\" TO \"d\""]
        );
        assert!(contract.reverse[0].statements()[0].contains("RENAME CONSTRAINT %I TO %I"));
    }
}
