//! `drop_table`: the new version stops using the table; contract sets it aside instead of
//! dropping it, so reverting contract puts it back with every row, index, constraint,
//! trigger and grant, and nothing is lost until the table is purged.
//!
//! Setting aside is a rename and `ALTER TABLE … SET SCHEMA` into the state schema, both
//! catalog-only, in one short transaction under `lock_timeout`. The table takes with it
//! its indexes, constraints, owned sequences and row type. A foreign key of another table
//! or a view over it would keep using it where it was set aside (the old version's rules
//! would hold on a table no one can see), so both are refused, by name, at expand and
//! again under contract's lock. The schema the table came from is recorded beside it in
//! the state schema, so the reversal needs no search path.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Lock, PhasePlan, Plan, Step};

use super::steps;

#[derive(Debug, FromMeta)]
pub struct DropTable {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
}

impl DropTable {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table"];
}

impl Operation for DropTable {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: vec![],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let table_q = self.table().sql();
        let expand = PhasePlan::new(
            format!("nothing changes: check that {table_q} exists and nothing else depends on it"),
            vec![steps::table_exists(&table_q), self.no_dependents()],
            vec![],
        );
        let sync = PhasePlan::nothing(format!("nothing to sync: the new version no longer uses {table_q}"));
        let backfill = PhasePlan::nothing("nothing to backfill: no row is copied");
        Plan::new(id, Self::NAME, description, [expand, sync, backfill, self.contract(id)])
            .purging(vec![self.purge(id)])
    }
}

impl DropTable {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// What would keep using the table once it is set aside, one line each.
    fn dependents_sql(&self) -> String {
        let table_lit = quote_literal(&self.table().sql());
        format!(
            "SELECT format('foreign key %I of %s', c.conname, c.conrelid::regclass) AS dependent \
             FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass({table_lit}) \
             AND c.conrelid <> c.confrelid \
             UNION SELECT format('view %s', r.ev_class::regclass) FROM pg_rewrite r \
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
             WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass({table_lit}) \
             AND r.ev_class <> d.refobjid"
        )
    }

    fn no_dependents(&self) -> Step {
        let table_q = self.table().sql();
        let dependents = self.dependents_sql();
        Step::check(
            format!("check that no foreign key of another table and no view uses {table_q}"),
            Lock::None,
            None,
            Check::new(
                format!("no foreign key of another table and no view using {table_q}"),
                format!("SELECT count(*) FROM ({dependents}) zdm_dependents"),
                format!("SELECT dependent FROM ({dependents}) zdm_dependents ORDER BY 1 LIMIT 5"),
            ),
        )
    }

    fn contract(&self, id: &str) -> PhasePlan {
        let table_q = self.table().sql();
        let set_aside = names::set_aside(id);
        PhasePlan::new(
            format!(
                "set {table_q} aside as {} in the state schema (catalog only), once no old version uses it",
                quote_ident(&set_aside)
            ),
            vec![
                self.no_dependents(),
                Step::transaction(
                    format!(
                        "rename {table_q} to {} and move it into the state schema",
                        quote_ident(&set_aside)
                    ),
                    Lock::AccessExclusive,
                    &table_q,
                    [format!("LOCK TABLE {table_q} IN ACCESS EXCLUSIVE MODE"), self.set_aside_statement(id)],
                ),
            ],
            vec![Step::transaction(
                format!("move {} back and rename it to {table_q}", quote_ident(&set_aside)),
                Lock::AccessExclusive,
                &table_q,
                [self.put_back_statement(id)],
            )],
        )
    }

    /// Drops the set-aside table for good, keeping the record of where it came from, so
    /// that reverting contract afterwards says it was purged.
    fn purge(&self, id: &str) -> Step {
        let set_aside = format!("{{state}}.{}", quote_ident(&names::set_aside(id)));
        Step::transaction(
            format!("drop {set_aside}, which contract set aside, for good"),
            Lock::AccessExclusive,
            &set_aside,
            [format!("DROP TABLE IF EXISTS {set_aside}")],
        )
    }

    /// Refuses, naming them, the dependents that appeared since the check and the objects
    /// of the state schema the table's indexes and sequences would collide with; then
    /// records the table's schema and moves the table.
    fn set_aside_statement(&self, id: &str) -> String {
        let table = self.table();
        let table_q = table.sql();
        let table_lit = quote_literal(&table_q);
        let set_aside = quote_ident(&names::set_aside(id));
        let record = quote_ident(&names::set_aside_record(id));
        let dependents = self.dependents_sql();
        format!(
            "DO {}",
            dollar_quote(&format!("\n\
                 DECLARE\n\
                 \x20 zdm_state oid := (SELECT c.relnamespace FROM pg_class c\n\
                 \x20   WHERE c.oid = (SELECT m.tableoid FROM {{state}}.migrations m LIMIT 1));\n\
                 \x20 zdm_found text;\n\
                 BEGIN\n\
                 \x20 SELECT string_agg(dependent, ', ' ORDER BY dependent) INTO zdm_found FROM ({dependents}) zdm_dependents;\n\
                 \x20 IF zdm_found IS NOT NULL THEN\n\
                 \x20   RAISE EXCEPTION 'refusing to set % aside: % would keep using it', {table_lit}, zdm_found;\n\
                 \x20 END IF;\n\
                 \x20 -- Indexes and owned sequences move with the table and keep their names.\n\
                 \x20 SELECT string_agg(quote_ident(o.relname), ', ' ORDER BY o.relname) INTO zdm_found\n\
                 \x20   FROM pg_class o\n\
                 \x20  WHERE o.relnamespace = zdm_state AND o.relname IN (\n\
                 \x20    SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid\n\
                 \x20     WHERE x.indrelid = {table_lit}::regclass\n\
                 \x20    UNION SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid\n\
                 \x20     WHERE d.classid = 'pg_class'::regclass AND d.refobjid = {table_lit}::regclass\n\
                 \x20       AND d.deptype IN ('a', 'i') AND s.relkind = 'S');\n\
                 \x20 IF zdm_found IS NOT NULL THEN\n\
                 \x20   RAISE EXCEPTION 'refusing to set % aside: the state schema already holds %, named as its indexes or sequences; purge earlier drops first', {table_lit}, zdm_found;\n\
                 \x20 END IF;\n\
                 \x20 CREATE TABLE {{state}}.{record} AS\n\
                 \x20   SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n\
                 \x20    WHERE c.oid = {table_lit}::regclass;\n\
                 \x20 ALTER TABLE {table_q} RENAME TO {set_aside};\n\
                 \x20 ALTER TABLE {} SET SCHEMA {{state}};\n\
                 END\n",
                table.beside(&names::set_aside(id))
            ))
        )
    }

    /// Puts the table back where the record says it came from, unless contract never set
    /// it aside; refuses once it was purged.
    fn put_back_statement(&self, id: &str) -> String {
        let table_lit = quote_literal(&self.table().sql());
        let name_lit = quote_literal(&self.table);
        let set_aside_lit = quote_literal(&names::set_aside(id));
        let record_lit = quote_literal(&names::set_aside_record(id));
        format!(
            "DO {}",
            dollar_quote(&format!("\n\
                 DECLARE\n\
                 \x20 zdm_state oid := (SELECT c.relnamespace FROM pg_class c\n\
                 \x20   WHERE c.oid = (SELECT m.tableoid FROM {{state}}.migrations m LIMIT 1));\n\
                 \x20 zdm_schema name;\n\
                 BEGIN\n\
                 \x20 IF NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = zdm_state AND relname = {record_lit}) THEN\n\
                 \x20   RETURN;\n\
                 \x20 END IF;\n\
                 \x20 IF NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = zdm_state AND relname = {set_aside_lit}) THEN\n\
                 \x20   RAISE EXCEPTION 'cannot put % back: it was purged from the state schema', {table_lit};\n\
                 \x20 END IF;\n\
                 \x20 EXECUTE format('SELECT schema FROM %s.%I', zdm_state::regnamespace, {record_lit}) INTO zdm_schema;\n\
                 \x20 EXECUTE format('ALTER TABLE %s.%I SET SCHEMA %I', zdm_state::regnamespace, {set_aside_lit}, zdm_schema);\n\
                 \x20 EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', zdm_schema, {set_aside_lit}, {name_lit});\n\
                 \x20 EXECUTE format('DROP TABLE %s.%I', zdm_state::regnamespace, {record_lit});\n\
                 END\n"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Phase};

    fn parse(tokens: proc_macro2::TokenStream) -> DropTable {
        crate::testing::parse(tokens)
    }

    fn statements(step: &Step) -> Vec<String> {
        match &step.action {
            Action::Transaction(statements) => statements.iter().map(|text| text.to_string()).collect(),
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn expand_only_checks_and_contract_sets_the_table_aside() {
        let plan = parse(quote!(table = "legacy")).plan("m", "");
        let expand = plan.phase(Phase::Expand);
        assert_eq!(expand.forward.len(), 2);
        assert!(expand.reverse.is_empty());
        assert!(matches!(expand.forward[1].action, Action::Check(_)));
        let contract = plan.phase(Phase::Contract);
        let sql = statements(&contract.forward[1]);
        assert_eq!(sql[0], "LOCK TABLE \"legacy\" IN ACCESS EXCLUSIVE MODE");
        assert!(sql[1].contains("ALTER TABLE \"legacy\" RENAME TO \"m_dropped\";"), "{}", sql[1]);
        assert!(sql[1].contains("ALTER TABLE \"m_dropped\" SET SCHEMA {state};"), "{}", sql[1]);
        assert!(sql[1].contains("CREATE TABLE {state}.\"m_dropped_from\" AS"), "{}", sql[1]);
        let back = statements(&contract.reverse[0]);
        assert!(back[0].contains("RENAME TO %I', zdm_schema, 'm_dropped', 'legacy')"), "{}", back[0]);
    }

    #[test]
    fn a_declared_schema_qualifies_the_moved_table() {
        let plan = parse(quote!(schema = "app", table = "legacy")).plan("m", "");
        let sql = statements(&plan.phase(Phase::Contract).forward[1]);
        assert!(sql[1].contains("ALTER TABLE \"app\".\"m_dropped\" SET SCHEMA {state};"), "{}", sql[1]);
    }

    #[test]
    fn a_bad_table_name_is_refused() {
        let errors = crate::testing::messages(|errors| parse(quote!(table = "app.legacy")).validate(errors));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
