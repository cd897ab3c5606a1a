//! `rename_table`: the table gets its new name, and a view under the old name stands in for
//! it while the old application version runs.
//!
//! A view of the form `SELECT * FROM one_table` is automatically updatable: INSERT, UPDATE
//! and DELETE through it reach the table, RETURNING included, with no rules and no
//! triggers, and an INSERT that leaves a column out gets the table's default. Both names
//! therefore read and write the same rows, and there is nothing to sync or backfill.
//!
//! The view is given the table's owner and the table's grants (table and column level),
//! so every role that could use the table can use the view, and the view reads the table
//! with the owner's rights. Over a table with row-level security that would exempt every
//! query from the policies, so there the view is `security_invoker` (PostgreSQL 15+; older
//! servers refuse the rename) and the querying role's policies apply as on the table.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::Operation;
use crate::ops::steps;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::validate::{self, Errors};
use zdm_plan::{Expectation, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct RenameTable {
    schema: Option<SpannedValue<String>>,
    from: SpannedValue<String>,
    to: SpannedValue<String>,
}

impl RenameTable {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "from", "to"];
}

impl Operation for RenameTable {
    fn footprint(&self) -> Footprint {
        Footprint {
            alone: Some("it moves the table's name to a view, which the other operations' steps would act on"),
            ..Footprint::of(self.relations())
        }
    }

    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.from())],
            provides: vec![relations::table(&self.to())],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "from", &self.from);
        validate::table(errors, "to", &self.to);
        if !self.from.is_empty() && self.from.as_str() == self.to.as_str() {
            validate::push(
                errors,
                self.to.span(),
                format_args!(
                    "`to` is the same as `from` (\"{}\"): there is nothing to rename",
                    self.to.as_str()
                ),
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let sync = PhasePlan::nothing(format!(
            "nothing to sync: {} and {} are one table under two names, written through the view",
            self.from(),
            self.to()
        ));
        let backfill = PhasePlan::nothing("nothing to backfill: no row is copied");
        Plan::new(id, Self::NAME, description, [self.expand(), sync, backfill, self.contract()])
    }
}

impl RenameTable {
    fn from(&self) -> Table {
        Table::declared(&self.schema, &self.from)
    }

    fn to(&self) -> Table {
        Table::declared(&self.schema, &self.to)
    }

    fn expand(&self) -> PhasePlan {
        let from_q = self.from().sql();
        let to_q = self.to().sql();
        // RENAME TO takes a bare name: the table stays in its schema.
        let mut rename = vec![format!("ALTER TABLE {from_q} RENAME TO {}", quote_ident(&self.to))];
        rename.extend(self.view_statements("CREATE VIEW"));
        PhasePlan::new(
            format!(
                "rename {from_q} to {to_q} and create the updatable view {from_q} over it, in one short transaction"
            ),
            vec![
                steps::table_exists(&from_q),
                steps::table_absent(&to_q),
                Step::transaction(
                    format!("rename {from_q} to {to_q} and create the view {from_q} over it"),
                    Lock::AccessExclusive,
                    &from_q,
                    rename,
                ),
            ],
            vec![Step::transaction(
                format!("drop the view {from_q} and rename {to_q} back to {from_q}"),
                Lock::AccessExclusive,
                &to_q,
                [self.unrename_statement()],
            )],
        )
    }

    /// Undoes the rename from any point of it, dropping the view only if it is the one zdm
    /// created over the table.
    fn unrename_statement(&self) -> String {
        let from_q = self.from().sql();
        let to_q = self.to().sql();
        let from_bare = quote_ident(&self.from);
        let from_lit = quote_literal(&from_q);
        let to_lit = quote_literal(&to_q);
        format!(
            "DO {}",
            dollar_quote(&format!("\n\
                 BEGIN\n\
                 \x20 IF to_regclass({from_lit}) IS NOT NULL THEN\n\
                 \x20   IF (SELECT relkind FROM pg_class WHERE oid = to_regclass({from_lit})) <> 'v' THEN\n\
                 \x20     -- The rename never happened: the old name is still the table.\n\
                 \x20     RETURN;\n\
                 \x20   END IF;\n\
                 \x20   IF to_regclass({to_lit}) IS NULL OR EXISTS (\n\
                 \x20     SELECT FROM pg_rewrite r\n\
                 \x20       JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid\n\
                 \x20      WHERE r.ev_class = to_regclass({from_lit}) AND d.refclassid = 'pg_class'::regclass\n\
                 \x20        AND d.refobjid <> r.ev_class AND d.refobjid <> to_regclass({to_lit}))\n\
                 \x20   THEN\n\
                 \x20     RAISE EXCEPTION 'refusing to drop %: it is not the view over % that zdm created', {from_lit}, {to_lit};\n\
                 \x20   END IF;\n\
                 \x20   DROP VIEW {from_q};\n\
                 \x20 END IF;\n\
                 \x20 IF to_regclass({to_lit}) IS NOT NULL THEN\n\
                 \x20   ALTER TABLE {to_q} RENAME TO {from_bare};\n\
                 \x20 END IF;\n\
                 END\n\
                 "))
        )
    }

    fn contract(&self) -> PhasePlan {
        let from_q = self.from().sql();
        let to_q = self.to().sql();
        PhasePlan::new(
            format!("drop the view {from_q}, once no old version uses the old name"),
            vec![
                Step::expect(Expectation::ViewOfTableOrAbsent {
                    view: from_q.clone().into(),
                    table: to_q.clone().into(),
                }),
                Step::transaction(
                    format!("drop the view {from_q}"),
                    Lock::AccessExclusive,
                    &from_q,
                    [format!("DROP VIEW IF EXISTS {from_q}")],
                ),
            ],
            vec![Step::transaction(
                format!("re-create the view {from_q} over {to_q}"),
                Lock::AccessExclusive,
                &from_q,
                self.view_statements("CREATE OR REPLACE VIEW"),
            )],
        )
    }

    /// The view under the old name over the renamed table, with the table's owner and
    /// grants, then `security_invoker` where the server has it.
    fn view_statements(&self, create: &str) -> Vec<String> {
        let from_q = self.from().sql();
        let to_q = self.to().sql();
        let from_lit = quote_literal(&from_q);
        let to_lit = quote_literal(&to_q);
        vec![
            format!("{create} {from_q} AS SELECT * FROM {to_q}"),
            format!(
                "DO {}",
                dollar_quote(&format!("\n\
                 DECLARE\n\
                 \x20 zdm_grant record;\n\
                 BEGIN\n\
                 \x20 -- The stand-in belongs to the table's owner and carries the table's grants,\n\
                 \x20 -- so every role reads and writes through it as it did through the table.\n\
                 \x20 EXECUTE format('ALTER VIEW %s OWNER TO %I', {from_lit},\n\
                 \x20   (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = {to_lit}::regclass));\n\
                 \x20 FOR zdm_grant IN\n\
                 \x20   SELECT a.privilege_type, a.is_grantable, a.grantee, NULL::name AS column_name\n\
                 \x20     FROM pg_class c, aclexplode(c.relacl) a\n\
                 \x20    WHERE c.oid = {to_lit}::regclass AND a.grantee <> c.relowner\n\
                 \x20   UNION ALL\n\
                 \x20   SELECT a.privilege_type, a.is_grantable, a.grantee, att.attname\n\
                 \x20     FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a\n\
                 \x20    WHERE c.oid = {to_lit}::regclass AND att.attnum > 0 AND NOT att.attisdropped\n\
                 \x20      AND a.grantee <> c.relowner\n\
                 \x20 LOOP\n\
                 \x20   IF zdm_grant.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REFERENCES', 'TRIGGER') THEN\n\
                 \x20     EXECUTE format('GRANT %s%s ON %s TO %s%s',\n\
                 \x20       zdm_grant.privilege_type,\n\
                 \x20       CASE WHEN zdm_grant.column_name IS NULL THEN '' ELSE format(' (%I)', zdm_grant.column_name) END,\n\
                 \x20       {from_lit},\n\
                 \x20       CASE zdm_grant.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(zdm_grant.grantee)) END,\n\
                 \x20       CASE WHEN zdm_grant.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);\n\
                 \x20   END IF;\n\
                 \x20 END LOOP;\n\
                 \x20 -- A view reads its table with its owner's rights, which row-level security exempts:\n\
                 \x20 -- over such a table the view checks the querying role instead, as the table did.\n\
                 \x20 IF (SELECT relrowsecurity FROM pg_class WHERE oid = {to_lit}::regclass) THEN\n\
                 \x20   IF current_setting('server_version_num')::int < 150000 THEN\n\
                 \x20     RAISE EXCEPTION 'the table has row-level security, which a view bypasses before PostgreSQL 15';\n\
                 \x20   END IF;\n\
                 \x20   EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', {from_lit});\n\
                 \x20 END IF;\n\
                 END\n\
                 "))
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::Action;

    fn parse(tokens: proc_macro2::TokenStream) -> RenameTable {
        crate::testing::parse(tokens)
    }

    fn messages(rename: &RenameTable) -> Vec<String> {
        crate::testing::messages(|errors| rename.validate(errors))
    }

    fn statements(step: &Step) -> &[zdm_plan::Text] {
        match &step.action {
            Action::Transaction(statements) => statements,
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn expand_renames_and_creates_a_plain_view_in_one_transaction() {
        let plan = parse(quote!(from = "customers", to = "clients")).plan("x", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[0].action,
            Action::Expect(Expectation::TableExists {
                table: "\"customers\"".to_owned().into()
            })
        );
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[1].action,
            Action::Expect(Expectation::TableAbsent {
                table: "\"clients\"".to_owned().into()
            })
        );
        let step = &plan.phase(zdm_plan::Phase::Expand).forward[2];
        assert_eq!(step.lock, Lock::AccessExclusive);
        let sql = statements(step);
        assert_eq!(sql[0], "ALTER TABLE \"customers\" RENAME TO \"clients\"");
        assert_eq!(sql[1], "CREATE VIEW \"customers\" AS SELECT * FROM \"clients\"");
        assert!(sql[2].contains("ALTER VIEW %s OWNER TO %I', '\"customers\"'"));
        assert!(sql[2].contains("security_invoker = true"));
        // No rules: a simple view is auto-updatable (the seed's `SET * = NEW.*` is not SQL).
        assert!(sql.iter().all(|statement| !statement.contains("RULE")));
        assert!(
            plan.phase(zdm_plan::Phase::Sync).forward.is_empty()
                && plan.phase(zdm_plan::Phase::Backfill).forward.is_empty()
        );
    }

    #[test]
    fn contract_drops_only_the_view_zdm_created_and_its_reversal_recreates_it() {
        let plan = parse(quote!(from = "customers", to = "clients")).plan("x", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Contract).forward[0].action,
            Action::Expect(Expectation::ViewOfTableOrAbsent {
                view: "\"customers\"".to_owned().into(),
                table: "\"clients\"".to_owned().into(),
            })
        );
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Contract).forward[1]),
            ["DROP VIEW IF EXISTS \"customers\""]
        );
        assert_eq!(
            statements(&plan.phase(zdm_plan::Phase::Contract).reverse[0])[0],
            "CREATE OR REPLACE VIEW \"customers\" AS SELECT * FROM \"clients\""
        );
    }

    #[test]
    fn the_reversal_of_expand_is_one_guarded_transaction() {
        let plan = parse(quote!(from = "customers", to = "clients")).plan("x", "");
        let sql = statements(&plan.phase(zdm_plan::Phase::Expand).reverse[0]);
        assert_eq!(sql.len(), 1);
        assert!(sql[0].contains("DROP VIEW \"customers\";"));
        assert!(sql[0].contains("ALTER TABLE \"clients\" RENAME TO \"customers\";"));
        assert!(
            sql[0].contains("RETURN;"),
            "a table under the old name is left alone"
        );
    }

    #[test]
    fn names_with_quotes_are_quoted_in_sql_and_in_literals() {
        let plan = parse(quote!(from = "o'ld\"x", to = "new")).plan("x", "");
        let sql = statements(&plan.phase(zdm_plan::Phase::Expand).forward[2]);
        assert_eq!(sql[0], "ALTER TABLE \"o'ld\"\"x\" RENAME TO \"new\"");
        assert!(sql[2].contains("'\"o''ld\"\"x\"'"), "{}", sql[2]);
    }

    #[test]
    fn the_same_name_twice_is_refused() {
        assert_eq!(
            messages(&parse(quote!(from = "t", to = "t"))),
            ["`to` is the same as `from` (\"t\"): there is nothing to rename"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let long = "x".repeat(64);
        let errors = messages(&parse(quote!(from = "", to = #long)));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0], "`from` is empty");
    }
}
