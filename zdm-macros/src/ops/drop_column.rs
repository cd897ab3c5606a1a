//! `drop_column`: a soft drop. The new version stops naming the column; the old one keeps
//! reading and writing it until contract, which hides it under a reserved name instead of
//! dropping it, so reverting contract loses nothing. `purge` drops it for good.
//!
//! The new version's inserts leave the column out. A nullable column or one with a default
//! takes care of itself; a NOT NULL column without one would make those inserts fail, so
//! such a column needs a declared `down` expression (over the row's other columns), which
//! a trigger assigns to every row written without a value, from sync on. The trigger stays
//! on the hidden column after contract, so reverting contract finds every row filled.
//!
//! A column that an index, a constraint, a view or another object uses would take them
//! with it when purged, and leave them broken when hidden; it is refused at expand,
//! naming each, before any change. A row trigger whose function's body mentions the column
//! is refused too (at expand and again before contract hides it), since the catalog does not
//! record what a function body reads and the function would fail every write once the
//! column is hidden; `triggers_checked` says the user has looked.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::steps::{self, FillWhen, Trigger};
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Lock, PhasePlan, Plan, Presented, Step};

#[derive(Debug, FromMeta)]
pub struct DropColumn {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    /// The value a row written without the column gets, over the row's other columns.
    down: Option<SpannedValue<String>>,
    /// The user has checked the table's row triggers that mention the column.
    triggers_checked: Flag,
}

impl DropColumn {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "down", "triggers_checked"];
}

impl Operation for DropColumn {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::column(&self.table(), &self.column)],
            provides: vec![],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
        if let Some(down) = &self.down {
            validate::expression(errors, "down", down);
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let column_q = quote_ident(&self.column);
        let sync = match self.fill(&self.column) {
            Some(trigger) => PhasePlan::new(
                format!("fill {column_q} with `down` for every row written without it"),
                vec![trigger.install(format!("install the trigger that fills {column_q} with `down`"))],
                vec![trigger.remove(format!("drop the trigger that fills {column_q}"))],
            ),
            None => PhasePlan::nothing(format!(
                "nothing to sync: rows the new version writes get {column_q}'s default or NULL"
            )),
        };
        let backfill = PhasePlan::nothing("nothing to backfill: every existing row keeps its value");
        let plan = Plan::new(id, Self::NAME, description, [self.expand(), sync, backfill, self.contract(id)]);
        // The new version never sees the column: its `SELECT *` leaves it out and its
        // inserts leave it to `down`, the default or NULL. The view names the other columns
        // by attribute number, so the contract's rename and its reversal leave it as it is.
        plan.purging(vec![self.purge(id)]).presenting(vec![Presented {
            table: self.table().sql().into(),
            columns: Vec::new().into(),
            hidden: vec![self.column.as_str().to_owned().into()].into(),
        }])
    }
}

impl DropColumn {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The trigger that fills `column` with `down`, if `down` is declared.
    fn fill(&self, column: &str) -> Option<Trigger> {
        let down = self.down.as_ref()?;
        Some(steps::fill_trigger(&self.table(), column, down, FillWhen::LeftNull))
    }

    /// `pg_attribute`'s row of the column, for the catalog checks.
    fn attribute(&self) -> String {
        format!(
            "a.attrelid = to_regclass({}) AND a.attname = {} AND NOT a.attisdropped",
            quote_literal(&self.table().sql()),
            quote_literal(&self.column)
        )
    }

    fn expand(&self) -> PhasePlan {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let mut forward = vec![
            steps::table_exists(&table_q),
            steps::column_exists(&table_q, &self.column, None),
            self.no_dependents(),
        ];
        forward.extend(self.no_user_triggers());
        match &self.down {
            Some(down) => forward.extend(steps::fragment_reads(&table_q, "down", down)),
            None => forward.push(self.needs_no_value()),
        }
        PhasePlan::new(
            format!("nothing changes: check that {table_q}.{column_q} can go"),
            forward,
            vec![],
        )
    }

    /// Every object that uses the column, as `pg_describe_object` names it: its own default
    /// and (PostgreSQL 18) its own NOT NULL constraint go with it and are left out, and so
    /// are the views of earlier migrations' version schemas, which serve the version that
    /// is old for this one: the contract retires them before it hides the column.
    fn dependents_sql(&self) -> String {
        let attribute = self.attribute();
        let prefix = names::VERSION_SCHEMA_PREFIX;
        let version_schema = format!("left(vn.nspname, {}) = {}", prefix.len(), quote_literal(prefix));
        format!(
            "SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS dependent FROM pg_depend d \
             JOIN pg_attribute a ON d.refobjid = a.attrelid AND d.refobjsubid = a.attnum \
             WHERE d.refclassid = 'pg_class'::regclass AND {attribute} \
             AND NOT (d.classid = 'pg_attrdef'::regclass AND d.objid IN \
             (SELECT ad.oid FROM pg_attrdef ad WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum)) \
             AND NOT (d.classid = 'pg_constraint'::regclass AND d.objid IN \
             (SELECT c.oid FROM pg_constraint c WHERE c.contype = 'n')) \
             AND NOT (d.classid = 'pg_rewrite'::regclass AND d.objid IN \
             (SELECT r.oid FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class \
             JOIN pg_namespace vn ON vn.oid = v.relnamespace WHERE {version_schema}))"
        )
    }

    fn no_dependents(&self) -> Step {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let dependents = self.dependents_sql();
        Step::check(
            format!("check that no index, constraint, view or other object uses {table_q}.{column_q}"),
            Lock::None,
            None,
            Check::new(
                format!("nothing using {table_q}.{column_q}"),
                format!("SELECT count(*) FROM ({dependents}) zdm_dependents"),
                format!("SELECT dependent FROM ({dependents}) zdm_dependents ORDER BY 1 LIMIT 5"),
            ),
        )
    }

    /// The table's own row triggers, other than zdm's, whose function's body has the column's
    /// name as a word of its own (in any case), unless the declaration says `triggers_checked`.
    fn no_user_triggers(&self) -> Option<Step> {
        if self.triggers_checked.is_present() {
            return None;
        }
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        // The name as a regular expression that matches only itself: every character that is
        // not a letter, a digit or `_` escaped. A word character may not stand on either side.
        let escaped: String = self
            .column
            .chars()
            .flat_map(|c| if c.is_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
            .collect();
        let pattern = quote_literal(&format!("(^|[^[:alnum:]_$]){escaped}($|[^[:alnum:]_$])"));
        let triggers = format!(
            "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
             WHERE t.tgrelid = to_regclass({table}) AND NOT t.tgisinternal AND t.tgtype & 1 = 1 \
             AND left(t.tgname, 4) <> 'zdm_' AND p.prosrc ~* {pattern}",
            table = quote_literal(&table_q),
        );
        Some(Step::check(
            format!("check that no row trigger's function mentions {table_q}.{column_q}"),
            Lock::None,
            None,
            Check::new(
                format!("no row trigger whose function mentions {table_q}.{column_q}"),
                format!("SELECT count(*) {triggers}"),
                format!(
                    "SELECT format('the trigger %I runs %s, whose body mentions %I: once contract hides the column, \
                     a function still naming it fails every write; check the function (and change it if needed), \
                     then declare `triggers_checked`', t.tgname, p.oid::regprocedure, {column}) {triggers} \
                     ORDER BY t.tgname LIMIT 5",
                    column = quote_literal(&self.column),
                ),
            ),
        ))
    }

    /// Without `down`, the new version's inserts must be able to leave the column out.
    fn needs_no_value(&self) -> Step {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let attribute = self.attribute();
        let required = format!(
            "FROM pg_attribute a WHERE {attribute} AND a.attnotnull AND NOT a.atthasdef \
             AND a.attidentity = '' AND a.attgenerated = ''"
        );
        Step::check(
            format!("check that rows written without {table_q}.{column_q} are accepted"),
            Lock::None,
            None,
            Check::new(
                format!("{table_q}.{column_q} nullable or with a default, or a declared `down`"),
                format!("SELECT count(*) {required}"),
                format!(
                    "SELECT format('%I is NOT NULL without a default: declare `down`, the value rows written \
                     without it get', a.attname) {required}"
                ),
            ),
        )
    }

    fn contract(&self, id: &str) -> PhasePlan {
        let table_q = self.table().sql();
        let column_q = quote_ident(&self.column);
        let hidden = names::hidden_column(id, &self.column);
        let hidden_q = quote_ident(&hidden);
        let mut hide: Vec<String> = self.fill(&self.column).map(|t| t.removal_statements()).unwrap_or_default();
        hide.push(format!("ALTER TABLE {table_q} RENAME COLUMN {column_q} TO {hidden_q}"));
        hide.extend(self.fill(&hidden).map(|t| t.statements()).unwrap_or_default());
        let mut unhide: Vec<String> = self.fill(&hidden).map(|t| t.removal_statements()).unwrap_or_default();
        unhide.push(self.rename_back(&hidden));
        unhide.extend(self.fill(&self.column).map(|t| t.statements()).unwrap_or_default());
        let mut forward = vec![
            steps::column_exists(&table_q, &self.column, None),
            steps::column_absent(&table_q, &hidden),
        ];
        // Again, for a trigger made since expand.
        forward.extend(self.no_user_triggers());
        forward.push(Step::transaction(
            format!("rename {column_q} to {hidden_q}"),
            Lock::AccessExclusive,
            &table_q,
            hide,
        ));
        PhasePlan::new(
            format!("hide {column_q} as {hidden_q} (catalog only), once no old version uses it"),
            forward,
            vec![Step::transaction(
                format!("rename {hidden_q} back to {column_q}"),
                Lock::AccessExclusive,
                &table_q,
                unhide,
            )],
        )
    }

    /// Renames the hidden column back, unless contract never hid it.
    fn rename_back(&self, hidden: &str) -> String {
        let table_q = self.table().sql();
        format!(
            "DO {}",
            dollar_quote(&format!(
                "\nBEGIN\n\
                 \x20 IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = {}::regclass AND attname = {}\n\
                 \x20    AND NOT attisdropped) THEN\n\
                 \x20   ALTER TABLE {table_q} RENAME COLUMN {} TO {};\n\
                 \x20 END IF;\n\
                 END\n",
                quote_literal(&table_q),
                quote_literal(hidden),
                quote_ident(hidden),
                quote_ident(&self.column)
            ))
        )
    }

    fn purge(&self, id: &str) -> Step {
        let table_q = self.table().sql();
        let hidden = names::hidden_column(id, &self.column);
        let mut statements: Vec<String> = self.fill(&hidden).map(|t| t.removal_statements()).unwrap_or_default();
        statements.push(format!("ALTER TABLE {table_q} DROP COLUMN IF EXISTS {}", quote_ident(&hidden)));
        Step::transaction(
            format!("drop the hidden column {} for good", quote_ident(&hidden)),
            Lock::AccessExclusive,
            &table_q,
            statements,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Phase};

    fn parse(tokens: proc_macro2::TokenStream) -> DropColumn {
        crate::testing::parse(tokens)
    }

    fn statements(step: &Step) -> Vec<String> {
        match &step.action {
            Action::Transaction(statements) => statements.iter().map(|text| text.to_string()).collect(),
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn contract_hides_the_column_and_moves_the_fill_trigger_with_it() {
        let plan = parse(quote!(table = "users", column = "nickname", down = "'none'")).plan("m", "");
        let contract = plan.phase(Phase::Contract);
        let hide = statements(&contract.forward[3]);
        assert!(hide.iter().any(|sql| sql == "ALTER TABLE \"users\" RENAME COLUMN \"nickname\" TO \"zdm_m_nickname\""));
        assert!(hide[0].starts_with("DROP TRIGGER IF EXISTS"), "{hide:?}");
        assert!(hide.last().unwrap().starts_with("CREATE TRIGGER"), "{hide:?}");
        assert!(hide.iter().any(|sql| sql.contains("NEW.\"zdm_m_nickname\" IS NULL")), "{hide:?}");
        let purge = statements(&plan.purge[0]);
        assert_eq!(purge.last().unwrap(), "ALTER TABLE \"users\" DROP COLUMN IF EXISTS \"zdm_m_nickname\"");
        assert_eq!(plan.phase(Phase::Sync).forward.len(), 1);
    }

    #[test]
    fn without_down_nothing_is_synced_and_expand_asks_whether_a_value_is_needed() {
        let plan = parse(quote!(table = "users", column = "nickname")).plan("m", "");
        assert!(plan.phase(Phase::Sync).forward.is_empty());
        let expand = plan.phase(Phase::Expand);
        assert_eq!(expand.forward.len(), 5);
        assert!(matches!(expand.forward[4].action, Action::Check(_)));
        assert_eq!(statements(&plan.phase(Phase::Contract).forward[3]).len(), 1);
    }

    #[test]
    fn row_triggers_naming_the_column_are_looked_for_unless_checked() {
        let mentions = |plan: &Plan, phase| {
            plan.phase(phase).forward.iter().any(|step| step.description.contains("no row trigger's function"))
        };
        let plan = parse(quote!(table = "users", column = "nick$name")).plan("m", "");
        assert!(mentions(&plan, Phase::Expand) && mentions(&plan, Phase::Contract));
        let Action::Check(check) = &plan.phase(Phase::Expand).forward[3].action else {
            panic!("expected the trigger check");
        };
        assert!(check.count_sql.contains(r"p.prosrc ~* '(^|[^[:alnum:]_$])nick\$name($|[^[:alnum:]_$])'"), "{}", check.count_sql);
        let checked = parse(quote!(table = "users", column = "nickname", triggers_checked)).plan("m", "");
        assert!(!mentions(&checked, Phase::Expand) && !mentions(&checked, Phase::Contract));
    }

    #[test]
    fn the_version_view_hides_the_column_and_two_drops_of_one_table_share_it() {
        let code = parse(quote!(table = "users", column = "code", down = "'none'")).plan("m", "");
        assert_eq!(code.presents.len(), 1);
        assert_eq!(&*code.presents[0].table, "\"users\"");
        assert_eq!(code.presents[0].hidden.iter().map(|c| &**c).collect::<Vec<_>>(), ["code"]);
        let city = parse(quote!(table = "users", column = "city")).plan("m", "");
        let both = Plan::combined("m", "", vec![code, city]);
        assert_eq!(both.presents.len(), 1);
        assert_eq!(both.presents[0].hidden.iter().map(|c| &**c).collect::<Vec<_>>(), ["code", "city"]);
    }

    #[test]
    fn a_bad_down_is_refused() {
        let errors = crate::testing::messages(|errors| {
            parse(quote!(table = "users", column = "nickname", down = "1 +")).validate(errors)
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`down` "), "{errors:?}");
    }
}
