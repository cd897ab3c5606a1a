//! `split_table`: one table becomes several that share its primary key, each taking over
//! some of its columns, while the old version keeps writing the old table and the new
//! version writes the new ones.
//!
//! The sync runs both ways, so that either version can be rolled back without losing a
//! write of the other:
//! - an AFTER INSERT OR UPDATE OR DELETE trigger on the source writes each new table
//!   (`INSERT … ON CONFLICT (key) DO UPDATE`, deletes, key changes as delete + insert);
//! - a deferred AFTER trigger on each new table brings the source row in line with the
//!   rows of all new tables when the transaction commits. Deferred, because the new version
//!   writes a new row into one table before the other: done at once, the source row would
//!   be created with the other table's columns NULL, which NOT NULL refuses.
//!
//! Recursion guard: a transaction-local setting (`set_config(…, true)`) that the sync sets
//! while it writes, tested in each trigger's WHEN clause, so the sync's own writes queue no
//! trigger event at all. `pg_trigger_depth()` would not do: it counts the user's triggers
//! too (a row written into the source by a trigger of the user's would not be synced), and
//! a deferred trigger runs at depth 1 whoever queued it. The backfills set the same guard:
//! the rows they copy are already equal on both sides.
//!
//! The types of the columns are not known to the macro: the new tables are created at run
//! time from the catalog (`zdm_runtime`'s `split` module), which also records, at contract,
//! how to rebuild the source. Every other statement is generated here from the names.
//!
//! This file holds the arguments and the [`Layout`] they give; `rules` validates them,
//! `phases` builds the plan from the layout with the statements of `triggers` (the sync),
//! `copies` (backfill and refill) and `checks` (contract's preconditions).

mod checks;
mod copies;
mod layout;
mod phases;
mod rules;
mod triggers;

use darling::util::SpannedValue;
use darling::FromMeta;

use self::layout::Layout;
use crate::names::Names;
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::validate::Errors;
use zdm_plan::names;
use zdm_plan::{Plan, Presented, Text};

#[derive(Debug, FromMeta)]
pub struct SplitTable {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    key: Option<Names>,
    #[darling(multiple)]
    into: Vec<Target>,
}

/// One new table: `into(table = "…", columns = ["…", …])`.
#[derive(Debug, FromMeta)]
pub struct Target {
    table: SpannedValue<String>,
    columns: Names,
}

impl SplitTable {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "key", "into"];
}

impl Operation for SplitTable {
    fn footprint(&self) -> Footprint {
        Footprint {
            alone: Some("it replaces the table the other operations would work on"),
            ..Footprint::of(self.relations())
        }
    }

    fn relations(&self) -> Relations {
        let mut provides = Vec::new();
        for target in &self.into {
            let new_table = Table::declared(&self.schema, &target.table);
            provides.push(relations::table(&new_table));
            for column in self.key().iter().chain(&target.columns.names) {
                provides.push(relations::column(&new_table, column));
            }
        }
        Relations {
            uses: vec![relations::table(&Table::declared(&self.schema, &self.table))],
            provides,
        }
    }

    fn validate(&self, errors: &mut Errors) {
        self.validate_key(errors);
        self.validate_targets(errors);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let layout = self.layout(id);
        let phases = [layout.expand(), layout.sync(), layout.backfill(), layout.contract()];
        // The new version finds the moved columns in the new tables only, never under the
        // table's name; the new tables resolve through the rest of its search path.
        let hidden: Vec<Text> = layout
            .targets
            .iter()
            .flat_map(|(_, columns)| columns.iter().map(|column| column.clone().into()))
            .collect();
        Plan::new(id, Self::NAME, description, phases).presenting(vec![Presented {
            table: Table::declared(&self.schema, &self.table).sql().into(),
            columns: Vec::new().into(),
            hidden: hidden.into(),
        }])
    }
}

impl SplitTable {
    /// The key as written, or `id`.
    fn key(&self) -> Vec<SpannedValue<String>> {
        match &self.key {
            Some(key) => key.names.clone(),
            None => vec![SpannedValue::new("id".to_owned(), self.table.span())],
        }
    }

    fn layout(&self, id: &str) -> Layout {
        let source = self.table.as_str().to_owned();
        Layout {
            schema: self.schema.as_ref().map(|schema| schema.as_str().to_owned()),
            guard: names::split_guard(id),
            forward_trigger: names::split_trigger(&source),
            back_trigger: names::split_back_trigger(&source),
            version_schema: names::version_schema(id),
            key: self.key().iter().map(|key| key.as_str().to_owned()).collect(),
            targets: self
                .into
                .iter()
                .map(|target| {
                    (
                        target.table.as_str().to_owned(),
                        target
                            .columns
                            .names
                            .iter()
                            .map(|column| column.as_str().to_owned())
                            .collect(),
                    )
                })
                .collect(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Expectation, Lock, SplitOperation, SplitTarget, Step};

    fn parse(tokens: proc_macro2::TokenStream) -> SplitTable {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    fn users() -> SplitTable {
        parse(quote!(
            table = "users",
            into(table = "profiles", columns = ["bio", "avatar_url"]),
            into(table = "logins", columns = "email"),
        ))
    }

    fn statements(step: &Step) -> Vec<String> {
        match &step.action {
            Action::Transaction(statements)
            | Action::Backfill(zdm_plan::Backfill { statements, .. })
            | Action::Split(zdm_plan::Split { statements, .. }) => {
                statements.iter().map(|statement| statement.to_string()).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_declaration_has_no_errors_and_the_key_defaults_to_id() {
        assert_eq!(
            messages(quote!(
                table = "users",
                into(table = "profiles", columns = ["bio"]),
                into(table = "logins", columns = ["email"]),
            )),
            Vec::<String>::new()
        );
        assert_eq!(users().layout("x").key, ["id"]);
        let composite = parse(quote!(
            table = "m",
            key = ["org_id", "user_id"],
            into(table = "a", columns = ["role"]),
            into(table = "b", columns = ["note"]),
        ));
        assert_eq!(composite.layout("x").key, ["org_id", "user_id"]);
    }

    #[test]
    fn fewer_than_two_new_tables_are_refused() {
        let errors = messages(quote!(
            table = "users",
            into(table = "profiles", columns = ["bio"])
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("needs at least two `into("), "{errors:?}");
        assert!(errors[0].ends_with("found 1"), "{errors:?}");
        let errors = messages(quote!(table = "users"));
        assert!(errors[0].ends_with("found 0"), "{errors:?}");
    }

    #[test]
    fn a_column_goes_to_exactly_one_new_table() {
        let errors = messages(quote!(
            table = "users",
            into(table = "profiles", columns = ["bio", "email", "bio"]),
            into(table = "logins", columns = ["email"]),
        ));
        assert_eq!(
            errors,
            [
                "`bio` is listed twice in `into(table = \"profiles\")`",
                "`email` is already in `into(table = \"profiles\")`; each column goes to exactly one new table",
            ]
        );
    }

    #[test]
    fn the_key_is_not_a_column_to_hand_out() {
        let errors = messages(quote!(
            table = "users",
            key = ["org", "id"],
            into(table = "profiles", columns = ["id"]),
            into(table = "logins", columns = ["org", "email"]),
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors
            .iter()
            .all(|error| error.contains("is the key, which every new table gets")));
    }

    #[test]
    fn new_table_names_are_distinct_from_the_source_and_each_other() {
        let errors = messages(quote!(
            table = "users",
            into(table = "users", columns = ["bio"]),
            into(table = "logins", columns = ["email"]),
            into(table = "logins", columns = ["hash"]),
        ));
        assert_eq!(
            errors,
            [
                "`into(table = \"users\")` names the table being split; each new table needs a name of its own",
                "`logins` is declared by two `into(…)`; list all its columns in one",
            ]
        );
    }

    #[test]
    fn empty_lists_duplicate_keys_and_bad_identifiers_are_refused() {
        let long = "x".repeat(64);
        let errors = messages(quote!(
            table = "",
            key = [],
            into(table = #long, columns = []),
            into(table = "b", columns = [""]),
        ));
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("`table` is empty"));
        assert!(errors[1].starts_with("`key` is an empty list"));
        assert!(errors[2].starts_with("`into(table)` is 64 bytes long"));
        assert!(errors[3].starts_with("`columns` of `into(table = \"xxx"));
        assert!(errors[4].starts_with("`columns` is empty"));
        let errors = messages(quote!(
            table = "t",
            key = ["a", "a"],
            into(table = "b", columns = ["c"]),
            into(table = "d", columns = ["e"]),
        ));
        assert_eq!(errors, ["`a` is given twice in `key`"]);
    }

    #[test]
    fn names_must_be_strings() {
        let error = SplitTable::from_list(
            &darling::ast::NestedMeta::parse_meta_list(quote!(
                table = "t",
                into(table = "a", columns = [bio])
            ))
            .unwrap(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("expected a name in double quotes"),
            "{error}"
        );
    }

    #[test]
    fn the_guard_and_the_trigger_names_are_deterministic_and_bounded() {
        let layout = users().layout("2026_split_users");
        assert_eq!(layout.guard, users().layout("2026_split_users").guard);
        assert_ne!(layout.guard, users().layout("other").guard);
        assert!(layout.guard.starts_with("zdm.split_") && layout.guard.len() == "zdm.split_".len() + 8);
        assert_eq!(layout.forward_trigger, "zdm_split_users");
        assert_eq!(layout.back_trigger, "zdm_split_users_back");
        let long = parse(quote!(
            table = "a_table_name_of_exactly_sixty_three_bytes_which_postgres_allows",
            into(table = "p", columns = ["b"]),
            into(table = "q", columns = ["c"]),
        ))
        .layout("x");
        assert!(long.back_trigger.len() <= 63 && long.forward_trigger.len() <= 63);
        assert_ne!(long.back_trigger, long.forward_trigger);
    }

    #[test]
    fn sync_installs_both_directions_with_the_guard_in_each_when_clause() {
        let plan = users().plan("m", "");
        let install = statements(&plan.phase(zdm_plan::Phase::Sync).forward[0]);
        let guard = users().layout("m").guard;
        let when = format!("WHEN (current_setting('{guard}', true) IS DISTINCT FROM 'on')");
        assert!(install[0].contains("INSERT INTO \"profiles\" AS zdm_t (\"id\", \"bio\", \"avatar_url\") VALUES (NEW.\"id\", NEW.\"bio\", NEW.\"avatar_url\")"));
        assert!(install[0].contains("ON CONFLICT (\"id\") DO UPDATE SET \"bio\" = EXCLUDED.\"bio\", \"avatar_url\" = EXCLUDED.\"avatar_url\""));
        assert!(install[0].contains("DELETE FROM \"logins\" WHERE (\"id\") = (OLD.\"id\");"));
        assert!(
            install[0].contains("(OLD.\"id\") IS DISTINCT FROM (NEW.\"id\")"),
            "key changes"
        );
        assert!(install[1].contains("DELETE FROM \"users\" WHERE (\"id\") = (NEW.\"id\");"));
        assert!(install[1].contains(
            "INSERT INTO \"users\" (\"id\", \"bio\", \"avatar_url\", \"email\")\n        SELECT NEW.\"id\", zdm_t0.\"bio\", zdm_t0.\"avatar_url\", zdm_t1.\"email\""
        ));
        assert!(install[1].contains("coalesce(zdm_previous, '')"));
        assert_eq!(
            install[3],
            format!(
                "CREATE TRIGGER \"zdm_split_users\" AFTER INSERT OR UPDATE OR DELETE ON \"users\" FOR EACH ROW {when} \
                 EXECUTE FUNCTION \"zdm_split_users\"()"
            )
        );
        assert_eq!(
            install[5],
            format!(
                "CREATE CONSTRAINT TRIGGER \"zdm_split_users_back\" AFTER INSERT OR UPDATE OR DELETE ON \"profiles\" \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when} EXECUTE FUNCTION \"zdm_split_users_back\"()"
            )
        );
        for function in &install[..2] {
            assert!(
                !function.contains("EXECUTE format") && !function.contains("pg_catalog"),
                "no dynamic SQL, no catalog"
            );
        }
        // Reverted, the triggers go first on the new tables, then on the source, and the
        // new tables are emptied.
        let remove = statements(&plan.phase(zdm_plan::Phase::Sync).reverse[0]);
        assert_eq!(
            remove[0],
            "DROP TRIGGER IF EXISTS \"zdm_split_users_back\" ON \"profiles\""
        );
        assert_eq!(
            remove[2],
            "DROP TRIGGER IF EXISTS \"zdm_split_users\" ON \"users\""
        );
        assert_eq!(remove.last().unwrap(), "TRUNCATE \"profiles\", \"logins\"");
    }

    #[test]
    fn the_backfill_copies_each_batch_into_every_new_table_without_overwriting() {
        let plan = users().plan("m", "");
        let step = &plan.phase(zdm_plan::Phase::Backfill).forward[0];
        assert_eq!(step.lock, Lock::RowExclusive);
        let guard = users().layout("m").guard;
        assert_eq!(
            statements(step),
            [
                format!(
                    "INSERT INTO \"profiles\" (\"id\", \"bio\", \"avatar_url\") SELECT \"users\".\"id\", \"users\".\"bio\", \
                     \"users\".\"avatar_url\" FROM \"users\", (SELECT set_config('{guard}', 'on', true) AS zdm_split_guard) \
                     AS zdm_split_guard WHERE {{range}} AND NOT EXISTS (SELECT 1 FROM \"profiles\" AS zdm_copied WHERE \
                     (zdm_copied.\"id\") = (\"users\".\"id\")) FOR KEY SHARE OF \"users\" ON CONFLICT (\"id\") DO NOTHING"
                ),
                format!(
                    "INSERT INTO \"logins\" (\"id\", \"email\") SELECT \"users\".\"id\", \"users\".\"email\" FROM \"users\", \
                     (SELECT set_config('{guard}', 'on', true) AS zdm_split_guard) AS zdm_split_guard WHERE {{range}} AND \
                     NOT EXISTS (SELECT 1 FROM \"logins\" AS zdm_copied WHERE (zdm_copied.\"id\") = (\"users\".\"id\")) FOR \
                     KEY SHARE OF \"users\" ON CONFLICT (\"id\") DO NOTHING"
                ),
            ]
        );
        assert!(plan.phase(zdm_plan::Phase::Backfill).reverse.is_empty());
    }

    #[test]
    fn contract_checks_first_and_its_reversal_rebuilds_then_refills_table_by_table() {
        let plan = users().plan("m", "");
        let forward = &plan.phase(zdm_plan::Phase::Contract).forward;
        assert!(
            matches!(&forward[0].action, Action::Check(zdm_plan::Check { count_sql, .. })
            if count_sql.contains("attname::text <> ALL (ARRAY['id', 'bio', 'avatar_url', 'email'])"))
        );
        assert!(
            matches!(&forward[1].action, Action::Check(zdm_plan::Check { count_sql, .. }) if count_sql.contains("contype = 'f'"))
        );
        let Action::Split(drop) = &forward[2].action else {
            panic!()
        };
        assert_eq!(drop.operation, SplitOperation::DropSource);
        assert_eq!(forward[2].lock, Lock::AccessExclusive);
        assert_eq!(
            drop.statements[..],
            zdm_plan::texts(statements(&plan.phase(zdm_plan::Phase::Sync).reverse[0]))[..5]
        );

        let reverse = &plan.phase(zdm_plan::Phase::Contract).reverse;
        let Action::Split(restore) = &reverse[0].action else {
            panic!()
        };
        assert_eq!(restore.operation, SplitOperation::RestoreSource);
        assert_eq!(
            restore.statements,
            statements(&plan.phase(zdm_plan::Phase::Sync).forward[0])
        );
        let refills: Vec<String> = reverse[1..].iter().flat_map(statements).collect();
        assert_eq!(refills.len(), 2);
        assert!(refills[0].contains(
            "SELECT \"id\", \"profiles\".\"bio\", \"profiles\".\"avatar_url\", \"logins\".\"email\" FROM \"profiles\" \
             LEFT JOIN \"logins\" USING (\"id\")"
        ));
        assert!(refills[0].contains("FOR KEY SHARE OF \"profiles\" ON CONFLICT (\"id\") DO NOTHING"));
        // Keys only in the second table, with NULL for the first one's columns.
        assert!(refills[1].contains("SELECT \"id\", NULL, NULL, \"logins\".\"email\" FROM \"logins\","));
        assert!(refills[1].contains(
            "AND NOT EXISTS (SELECT 1 FROM \"profiles\" AS zdm_done WHERE (zdm_done.\"id\") = (\"logins\".\"id\"))"
        ));
    }

    #[test]
    fn expand_checks_the_tables_then_creates_the_new_ones_at_run_time() {
        let plan = users().plan("m", "");
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).forward[..3]
                .iter()
                .map(|step| step.action.clone())
                .collect::<Vec<_>>(),
            [
                Action::Expect(Expectation::TableExists {
                    table: "\"users\"".to_owned().into()
                }),
                Action::Expect(Expectation::TableAbsent {
                    table: "\"profiles\"".to_owned().into()
                }),
                Action::Expect(Expectation::TableAbsent {
                    table: "\"logins\"".to_owned().into()
                }),
            ]
        );
        let Action::Split(create) = &plan.phase(zdm_plan::Phase::Expand).forward[3].action else {
            panic!()
        };
        assert_eq!(create.operation, SplitOperation::CreateTargets);
        assert_eq!(
            create.targets[1],
            SplitTarget {
                table: "logins".into(),
                columns: zdm_plan::texts(["email"])
            }
        );
        assert!(create.preview[0].starts_with(
            "CREATE TABLE \"profiles\" (\"id\", \"bio\", \"avatar_url\", PRIMARY KEY (\"id\"))"
        ));
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand)
                .reverse
                .iter()
                .flat_map(statements)
                .collect::<Vec<_>>(),
            [
                "DROP TABLE IF EXISTS \"profiles\"",
                "DROP TABLE IF EXISTS \"logins\""
            ]
        );
    }

    #[test]
    fn composite_keys_compare_as_rows() {
        let plan = parse(quote!(
            table = "m",
            key = ["org_id", "user_id"],
            into(table = "a", columns = ["role"]),
            into(table = "b", columns = ["note"]),
        ))
        .plan("x", "");
        let install = statements(&plan.phase(zdm_plan::Phase::Sync).forward[0]);
        assert!(install[0].contains(
            "DELETE FROM \"a\" WHERE (\"org_id\", \"user_id\") = (OLD.\"org_id\", OLD.\"user_id\");"
        ));
        assert!(install[0].contains("ON CONFLICT (\"org_id\", \"user_id\") DO UPDATE"));
        let refill = statements(&plan.phase(zdm_plan::Phase::Contract).reverse[1]);
        assert!(refill[0].contains("LEFT JOIN \"b\" USING (\"org_id\", \"user_id\")"));
    }
}
