//! `add_index`: an index built with `CREATE [UNIQUE] INDEX CONCURRENTLY`, so reads and
//! writes go on while it is built.
//!
//! The whole change is the build, in expand: there is nothing to sync, backfill or
//! contract. Before building, the runner checks that the name is free or already holds
//! this very index (a valid one is done; an INVALID one, left by a failed or killed
//! build, is dropped and rebuilt), and for a unique index that no two rows share a key,
//! showing a few keys that do. The name is deterministic, so every retry, resume and
//! reversal finds the index it is about.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::names::Names;
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::sql::{calls_volatile_function, closest, embedded, quote_ident};
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Check, Expectation, Lock, PhasePlan, Plan, Step};

/// The index access methods PostgreSQL ships.
const METHODS: &[&str] = &["btree", "hash", "gist", "spgist", "gin", "brin"];

/// Methods that can carry `INCLUDE` columns.
const INCLUDE_METHODS: &[&str] = &["btree", "gist", "spgist"];

#[derive(Debug, FromMeta)]
#[darling(and_then = AddIndex::needs_a_key)]
pub struct AddIndex {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    columns: Option<Names>,
    expression: Option<SpannedValue<String>>,
    unique: Flag,
    method: Option<SpannedValue<String>>,
    #[darling(rename = "where")]
    predicate: Option<SpannedValue<String>>,
    name: Option<SpannedValue<String>>,
    include: Option<Names>,
}

impl AddIndex {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "columns", "expression", "unique", "method", "where", "name", "include"];
}

impl Operation for AddIndex {
    fn relations(&self) -> Relations {
        let table = self.table();
        let mut uses = vec![relations::table(&table)];
        for list in [&self.columns, &self.include].into_iter().flatten() {
            uses.extend(list.names.iter().map(|name| relations::column(&table, name)));
        }
        Relations {
            uses,
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        if let Some(name) = &self.name {
            validate::identifier(errors, "name", name);
        }
        if let (Some(_), Some(expression)) = (&self.columns, &self.expression) {
            validate::push(
                errors,
                expression.span(),
                "`expression` and `columns` exclude each other: index either columns or one expression",
            );
        }
        if let Some(columns) = &self.columns {
            names(errors, "columns", columns);
        }
        if let Some(include) = &self.include {
            names(errors, "include", include);
            for name in &include.names {
                let key = self
                    .columns
                    .iter()
                    .flat_map(|columns| &columns.names)
                    .any(|column| column.as_str() == name.as_str());
                if key {
                    validate::push(
                        errors,
                        name.span(),
                        format_args!(
                            "`include` lists \"{}\", which `columns` already indexes",
                            name.as_str()
                        ),
                    );
                }
            }
        }
        let method = self.method();
        if let Some(written) = &self.method {
            if !METHODS.contains(&method.as_str()) {
                let mut message = format!(
                    "`method` is \"{}\", which is not an index method; expected one of {}",
                    written.as_str(),
                    METHODS.join(", ")
                );
                if let Some(suggestion) = closest(&method, METHODS) {
                    message.push_str(&format!("; did you mean \"{suggestion}\"?"));
                }
                validate::push(errors, written.span(), message);
            }
        }
        if METHODS.contains(&method.as_str()) {
            self.validate_for_method(&method, errors);
        }
        for (key, sql) in [("expression", &self.expression), ("where", &self.predicate)] {
            let Some(sql) = sql else { continue };
            match key {
                "where" => validate::condition(errors, key, sql),
                _ => validate::expression(errors, key, sql),
            }
            if calls_volatile_function(sql) {
                validate::push(
                    errors,
                    sql.span(),
                    format_args!(
                        "`{key}` calls a volatile function; PostgreSQL indexes only immutable expressions"
                    ),
                );
            }
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(),
            PhasePlan::nothing("nothing to sync: PostgreSQL maintains the index on every write"),
            PhasePlan::nothing("nothing to backfill: the build indexed every existing row"),
            PhasePlan::nothing("nothing to contract: the index is complete once expand has run"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddIndex {
    /// The whole change: the build, after the checks that make it safe to retry.
    fn expand(&self) -> PhasePlan {
        let table = &self.table();
        let table_q = table.sql();
        let index = self.index_name();
        let unique = self.unique.is_present();
        let definition = self.definition();
        let mut forward = vec![steps::table_exists(&table_q)];
        for column in self.column_names().into_iter().chain(self.include_names()) {
            forward.push(steps::column_exists(&table_q, column, None));
        }
        forward.push(Step::expect(Expectation::IndexAbsentOrSame {
            table: table_q.clone().into(),
            index: table.beside(&index).into(),
            unique,
            definition: definition.clone().into(),
        }));
        if unique {
            forward.push(self.duplicates_check(&table_q));
        }
        forward.push(steps::create_index(table, &index, &definition, unique));
        let unique_word = if unique { "unique " } else { "" };
        PhasePlan::new(
            format!(
                "build the {unique_word}index {} on {table_q} concurrently: reads and writes go on",
                table.beside(&index)
            ),
            forward,
            vec![steps::drop_index(table, &index)],
        )
    }

    /// Reported like a missing key, at the operation's name.
    fn needs_a_key(self) -> darling::Result<Self> {
        if self.columns.is_none() && self.expression.is_none() {
            return Err(darling::Error::custom(
                "`add_index` needs what to index: `columns = [\"…\"]` or `expression = \"…\"`",
            ));
        }
        Ok(self)
    }


    /// The rules that depend on the access method.
    fn validate_for_method(&self, method: &str, errors: &mut Errors) {
        if self.unique.is_present() && method != "btree" {
            validate::push(
                errors,
                self.unique.span(),
                format_args!("`unique` needs a btree index (PostgreSQL builds unique indexes only with btree); this one uses `{method}`"),
            );
        }
        if method == "hash" {
            if let Some(columns) = self.columns.as_ref().filter(|columns| columns.names.len() > 1) {
                validate::push(
                    errors,
                    columns.span,
                    format_args!(
                        "a hash index covers one column; `columns` lists {}",
                        columns.names.len()
                    ),
                );
            }
        }
        if let Some(include) = &self.include {
            if !INCLUDE_METHODS.contains(&method) {
                validate::push(
                    errors,
                    include.span,
                    format_args!(
                        "`include` works with btree, gist and spgist indexes only; this one uses `{method}`"
                    ),
                );
            }
        }
    }

    /// The access method, lower case; btree unless declared.
    fn method(&self) -> String {
        self.method
            .as_ref()
            .map_or_else(|| "btree".to_owned(), |method| method.trim().to_ascii_lowercase())
    }

    fn column_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .flat_map(|columns| &columns.names)
            .map(|name| name.as_str())
            .collect()
    }

    fn include_names(&self) -> Vec<&str> {
        self.include
            .iter()
            .flat_map(|include| &include.names)
            .map(|name| name.as_str())
            .collect()
    }

    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The declared name, or `<table>_<columns or expression words>_idx`, at most 63
    /// bytes.
    fn index_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.as_str().to_owned();
        }
        let mut parts: Vec<String> = vec![];
        match &self.expression {
            Some(expression) => parts.extend(
                expression
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|word| !word.is_empty())
                    .map(str::to_lowercase),
            ),
            None => parts.extend(self.column_names().into_iter().map(str::to_owned)),
        }
        names::index_of(&self.table, &parts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The key as SQL: quoted columns, or the expression in parentheses.
    fn keys(&self) -> Vec<String> {
        match &self.expression {
            Some(expression) => vec![embedded(expression)],
            None => self.column_names().into_iter().map(quote_ident).collect(),
        }
    }

    /// What follows `ON table` in `CREATE INDEX`.
    fn definition(&self) -> String {
        let mut definition = format!("USING {} ({})", self.method(), self.keys().join(", "));
        let include = self.include_names();
        if !include.is_empty() {
            definition.push_str(&format!(
                " INCLUDE ({})",
                include
                    .into_iter()
                    .map(quote_ident)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(predicate) = &self.predicate {
            definition.push_str(&format!(" WHERE {}", embedded(predicate)));
        }
        definition
    }

    /// Counts the rows sharing a key with another row (NULL keys are distinct, as in the
    /// index) and shows a few of those keys.
    fn duplicates_check(&self, table_q: &str) -> Step {
        let keys = self.keys();
        let key_list = keys.join(", ");
        let mut filter: Vec<String> = keys.iter().map(|key| format!("{key} IS NOT NULL")).collect();
        let mut scope = String::new();
        if let Some(predicate) = &self.predicate {
            filter.push(embedded(predicate));
            scope = format!(" where {}", predicate.trim());
        }
        let filter = filter.join(" AND ");
        let shown = match &self.expression {
            Some(expression) => expression.trim().to_owned(),
            None => format!("({key_list})"),
        };
        Step::check(
            format!("check that no two rows of {table_q} have the same {shown}"),
            Lock::AccessShare,
            Some(table_q),
            Check::new(
                format!("no two rows of {table_q} with the same {shown}{scope}"),
                format!(
                    "SELECT coalesce(sum(zdm_rows), 0)::bigint FROM (SELECT count(*) AS zdm_rows FROM {table_q} \
                     WHERE {filter} GROUP BY {key_list} HAVING count(*) > 1) AS zdm_duplicates"
                ),
                format!(
                    "SELECT format('%s appears %s times', ROW({key_list})::text, count(*)) FROM {table_q} \
                     WHERE {filter} GROUP BY {key_list} HAVING count(*) > 1 ORDER BY count(*) DESC, 1 LIMIT 5"
                ),
            ),
        )
    }
}

/// A list of column names: not empty, each a valid identifier, none twice.
pub(crate) fn names(errors: &mut Errors, key: &str, list: &Names) {
    if list.names.is_empty() {
        validate::push(
            errors,
            list.span,
            format_args!("`{key}` is an empty list; name at least one column"),
        );
    }
    for (at, name) in list.names.iter().enumerate() {
        validate::identifier(errors, key, name);
        if list.names[..at]
            .iter()
            .any(|earlier| earlier.as_str() == name.as_str())
        {
            validate::push(
                errors,
                name.span(),
                format_args!("`{key}` lists \"{}\" twice", name.as_str()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zdm_plan::Action;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> AddIndex {
        crate::testing::parse(tokens)
    }

    fn messages(add_index: &AddIndex) -> Vec<String> {
        crate::testing::messages(|errors| add_index.validate(errors))
    }

    fn create_sql(plan: &Plan) -> String {
        match &plan.phase(zdm_plan::Phase::Expand).forward.last().unwrap().action {
            Action::CreateIndexConcurrently { sql, .. } => sql.to_string(),
            other => panic!("expected the build last, got {other:?}"),
        }
    }

    #[test]
    fn a_composite_index_gets_a_deterministic_name_and_a_concurrent_build() {
        let plan = parse(quote!(table = "orders", columns = ["customer_id", "created_at"])).plan("x", "");
        assert_eq!(
            create_sql(&plan),
            "CREATE INDEX CONCURRENTLY \"orders_customer_id_created_at_idx\" ON \"orders\" \
             USING btree (\"customer_id\", \"created_at\")"
        );
        // table, two columns, the name, then the build: no duplicate check for a plain index.
        assert_eq!(plan.phase(zdm_plan::Phase::Expand).forward.len(), 5);
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[3].action,
            Action::Expect(Expectation::IndexAbsentOrSame {
                table: "\"orders\"".to_owned().into(),
                index: "\"orders_customer_id_created_at_idx\"".to_owned().into(),
                unique: false,
                definition: "USING btree (\"customer_id\", \"created_at\")".to_owned().into(),
            })
        );
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).reverse[0].action,
            Action::DropIndexConcurrently {
                index: "\"orders_customer_id_created_at_idx\"".to_owned().into(),
                sql: "DROP INDEX CONCURRENTLY IF EXISTS \"orders_customer_id_created_at_idx\""
                    .to_owned()
                    .into(),
            }
        );
        assert!(
            plan.phase(zdm_plan::Phase::Sync).forward.is_empty()
                && plan.phase(zdm_plan::Phase::Backfill).forward.is_empty()
                && plan.phase(zdm_plan::Phase::Contract).forward.is_empty()
        );
        assert!(plan
            .phase(zdm_plan::Phase::Sync)
            .summary
            .starts_with("nothing to sync"));
    }

    #[test]
    fn a_single_column_may_be_written_as_a_string() {
        let plan = parse(quote!(table = "orders", columns = "customer_id")).plan("x", "");
        assert_eq!(
            create_sql(&plan),
            "CREATE INDEX CONCURRENTLY \"orders_customer_id_idx\" ON \"orders\" USING btree (\"customer_id\")"
        );
    }

    #[test]
    fn a_unique_partial_index_checks_duplicates_first() {
        let plan = parse(quote!(
            table = "users",
            columns = "email",
            unique,
            where = "deleted_at IS NULL",
            include = ["id"],
            name = "users_live_email_key"
        ))
        .plan("x", "");
        assert_eq!(
            create_sql(&plan),
            "CREATE UNIQUE INDEX CONCURRENTLY \"users_live_email_key\" ON \"users\" \
             USING btree (\"email\") INCLUDE (\"id\") WHERE (deleted_at IS NULL)"
        );
        let check = &plan.phase(zdm_plan::Phase::Expand).forward
            [plan.phase(zdm_plan::Phase::Expand).forward.len() - 2];
        let Action::Check(zdm_plan::Check {
            expectation,
            count_sql,
            sample_sql,
        }) = &check.action
        else {
            panic!("expected the duplicate check before the build, got {check:?}")
        };
        assert_eq!(
            expectation,
            "no two rows of \"users\" with the same (\"email\") where deleted_at IS NULL"
        );
        assert_eq!(
            count_sql,
            "SELECT coalesce(sum(zdm_rows), 0)::bigint FROM (SELECT count(*) AS zdm_rows FROM \"users\" \
             WHERE \"email\" IS NOT NULL AND (deleted_at IS NULL) GROUP BY \"email\" HAVING count(*) > 1) AS zdm_duplicates"
        );
        assert!(
            sample_sql.starts_with("SELECT format('%s appears %s times', ROW(\"email\")::text, count(*))")
        );
        assert_eq!(check.lock, Lock::AccessShare);
    }

    #[test]
    fn an_expression_index_is_named_after_its_words() {
        let plan = parse(quote!(table = "users", expression = "lower(email)", unique)).plan("x", "");
        assert_eq!(
            create_sql(&plan),
            "CREATE UNIQUE INDEX CONCURRENTLY \"users_lower_email_idx\" ON \"users\" USING btree ((lower(email)))"
        );
        let Action::Check(zdm_plan::Check { count_sql, .. }) =
            &plan.phase(zdm_plan::Phase::Expand).forward[2].action
        else {
            panic!()
        };
        assert!(count_sql.contains("WHERE (lower(email)) IS NOT NULL GROUP BY (lower(email))"));
    }

    #[test]
    fn methods_are_written_lower_case() {
        for method in ["gin", "GIST", "brin", "hash", "spgist"] {
            let plan = parse(quote!(table = "docs", columns = "body", method = #method)).plan("x", "");
            assert!(
                create_sql(&plan).ends_with(&format!("USING {} (\"body\")", method.to_lowercase())),
                "{method}"
            );
        }
    }

    #[test]
    fn long_names_are_bounded() {
        let long = "c".repeat(60);
        let plan = parse(quote!(table = "orders", columns = [#long, "b"])).plan("x", "");
        let Action::CreateIndexConcurrently { index, .. } =
            &plan.phase(zdm_plan::Phase::Expand).forward.last().unwrap().action
        else {
            panic!()
        };
        // Quoted: the name itself is the 63 bytes between the quotes.
        assert_eq!(index.len(), 63 + 2);
    }

    #[test]
    fn an_unknown_method_is_refused_with_a_suggestion() {
        let errors = messages(&parse(quote!(table = "t", columns = "c", method = "gni")));
        assert_eq!(
            errors,
            ["`method` is \"gni\", which is not an index method; expected one of btree, hash, gist, spgist, gin, brin; did you mean \"gin\"?"]
        );
    }

    #[test]
    fn unique_needs_btree() {
        let errors = messages(&parse(quote!(table = "t", columns = "c", method = "gin", unique)));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("`unique` needs a btree index"),
            "{errors:?}"
        );
    }

    #[test]
    fn columns_and_expression_exclude_each_other() {
        let errors = messages(&parse(quote!(
            table = "t",
            columns = "c",
            expression = "lower(c)"
        )));
        assert_eq!(
            errors,
            ["`expression` and `columns` exclude each other: index either columns or one expression"]
        );
        let items = darling::ast::NestedMeta::parse_meta_list(quote!(table = "t", unique)).unwrap();
        let error = AddIndex::from_list(&items).unwrap_err().to_string();
        assert_eq!(
            error,
            "`add_index` needs what to index: `columns = [\"…\"]` or `expression = \"…\"`"
        );
    }

    #[test]
    fn column_lists_must_be_non_empty_and_without_repeats() {
        assert_eq!(
            messages(&parse(quote!(table = "t", columns = []))),
            ["`columns` is an empty list; name at least one column"]
        );
        assert_eq!(
            messages(&parse(quote!(table = "t", columns = ["a", "b", "a"]))),
            ["`columns` lists \"a\" twice"]
        );
        assert_eq!(
            messages(&parse(quote!(table = "t", columns = ["a"], include = ["a"]))),
            ["`include` lists \"a\", which `columns` already indexes"]
        );
    }

    #[test]
    fn expressions_and_predicates_are_checked() {
        let errors = messages(&parse(quote!(
            table = "t",
            expression = "lower(email",
            where = "x; DROP TABLE t"
        )));
        assert_eq!(
            errors,
            [
                "`expression` has a `(` that is never closed",
                "`where` contains `;`: an expression cannot end the statement"
            ]
        );
        let errors = messages(&parse(
            quote!(table = "t", columns = "c", where = "random() < 0.5"),
        ));
        assert_eq!(
            errors,
            ["`where` calls a volatile function; PostgreSQL indexes only immutable expressions"]
        );
    }

    #[test]
    fn names_are_bounded_to_63_bytes() {
        let long = "n".repeat(64);
        let errors = messages(&parse(quote!(table = "t", columns = "c", name = #long)));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`name` is 64 bytes long"), "{errors:?}");
    }

    #[test]
    fn hash_covers_one_column_and_include_needs_a_method_that_has_it() {
        let errors = messages(&parse(quote!(table = "t", columns = ["a", "b"], method = "hash")));
        assert_eq!(errors, ["a hash index covers one column; `columns` lists 2"]);
        let errors = messages(&parse(quote!(
            table = "t",
            columns = "a",
            method = "gin",
            include = "b"
        )));
        assert_eq!(
            errors,
            ["`include` works with btree, gist and spgist indexes only; this one uses `gin`"]
        );
    }

    #[test]
    fn non_string_names_are_refused_by_the_parser() {
        let items =
            darling::ast::NestedMeta::parse_meta_list(quote!(table = "t", columns = [a, "b"])).unwrap();
        let error = AddIndex::from_list(&items).unwrap_err().to_string();
        assert!(error.contains("expected a name in double quotes"), "{error}");
    }
}
