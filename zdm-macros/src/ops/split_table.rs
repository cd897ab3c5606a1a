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

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::names::Names;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{dollar_quote, quote_ident, quote_literal};
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Action, Expectation, Lock, PhasePlan, Plan, Split, SplitOperation, SplitTarget, Step};

#[derive(Debug, FromMeta)]
pub struct SplitTable {
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

impl Operation for SplitTable {
    fn relations(&self) -> Relations {
        let mut provides = Vec::new();
        for target in &self.into {
            provides.push(relations::table(&target.table));
            for column in self.key().iter().chain(&target.columns.names) {
                provides.push(relations::column(&target.table, column));
            }
        }
        Relations {
            uses: vec![relations::table(&self.table)],
            provides,
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::identifier(errors, "table", &self.table);
        let key = self.key();
        if let Some(written) = &self.key {
            if written.names.is_empty() {
                validate::push(
                    errors,
                    written.span,
                    "`key` is an empty list; name the primary-key column(s) every new table shares, such as key = \"id\"",
                );
            }
        }
        for (index, column) in key.iter().enumerate() {
            validate::identifier(errors, "key", column);
            if key[..index]
                .iter()
                .any(|earlier| earlier.as_str() == column.as_str())
            {
                validate::push(
                    errors,
                    column.span(),
                    format_args!("`{}` is given twice in `key`", column.as_str()),
                );
            }
        }
        if self.into.len() < 2 {
            let span = self
                .into
                .first()
                .map_or_else(|| self.table.span(), |target| target.table.span());
            validate::push(
                errors,
                span,
                format_args!(
                    "`split_table` needs at least two `into(table = \"…\", columns = [\"…\"])`, one per new table; found {}",
                    self.into.len()
                ),
            );
        }
        // Each column, with the new table it was first listed in.
        let mut assigned: Vec<(&str, &str)> = Vec::new();
        for (index, target) in self.into.iter().enumerate() {
            let table = target.table.as_str();
            validate::identifier(errors, "into(table)", &target.table);
            if table == self.table.as_str() {
                validate::push(
                    errors,
                    target.table.span(),
                    format_args!(
                        "`into(table = \"{table}\")` names the table being split; each new table needs a name of its own"
                    ),
                );
            } else if self.into[..index]
                .iter()
                .any(|earlier| earlier.table.as_str() == table)
            {
                validate::push(
                    errors,
                    target.table.span(),
                    format_args!("`{table}` is declared by two `into(…)`; list all its columns in one"),
                );
            }
            if target.columns.names.is_empty() {
                validate::push(
                    errors,
                    target.columns.span,
                    format_args!(
                        "`columns` of `into(table = \"{table}\")` is empty; list the columns this table takes over"
                    ),
                );
            }
            for column in &target.columns.names {
                let name = column.as_str();
                validate::identifier(errors, "columns", column);
                if key.iter().any(|key| key.as_str() == name) {
                    validate::push(
                        errors,
                        column.span(),
                        format_args!(
                            "`{name}` is the key, which every new table gets; list only the other columns"
                        ),
                    );
                } else if let Some((_, first)) = assigned.iter().find(|(seen, _)| *seen == name) {
                    let message = if *first == table {
                        format!("`{name}` is listed twice in `into(table = \"{table}\")`")
                    } else {
                        format!(
                            "`{name}` is already in `into(table = \"{first}\")`; each column goes to exactly one new table"
                        )
                    };
                    validate::push(errors, column.span(), message);
                } else {
                    assigned.push((name, table));
                }
            }
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let layout = self.layout(id);
        let source_q = quote_ident(&layout.source);
        let target_list = layout
            .targets
            .iter()
            .map(|(table, _)| quote_ident(table))
            .collect::<Vec<_>>()
            .join(", ");
        let first_target_q = quote_ident(&layout.targets[0].0);
        let split = |operation, statements: Vec<String>, preview: Vec<String>| {
            Action::Split(Split {
                operation,
                source: layout.source.clone().into(),
                key: zdm_plan::texts(layout.key.clone()),
                targets: layout
                    .targets
                    .iter()
                    .map(|(table, columns)| SplitTarget {
                        table: table.clone().into(),
                        columns: zdm_plan::texts(columns.clone()),
                    })
                    .collect(),
                statements: zdm_plan::texts(statements),
                preview: zdm_plan::texts(preview),
            })
        };

        let mut expand_forward = vec![Step::expect(Expectation::TableExists {
            table: source_q.clone().into(),
        })];
        expand_forward.extend(layout.targets.iter().map(|(table, _)| {
            Step::expect(Expectation::TableAbsent {
                table: quote_ident(table).into(),
            })
        }));
        expand_forward.push(Step {
            description: format!(
                "create {target_list} with the key and columns of {source_q}, typed as in the catalog"
            )
            .into(),
            lock: Lock::AccessShare,
            table: Some(source_q.clone().into()),
            action: split(SplitOperation::CreateTargets, vec![], layout.create_preview()),
        });
        let expand = PhasePlan {
            summary: format!(
                "create {target_list}, each with the primary key of {source_q} and its share of the columns \
                 (types, collations, NOT NULL and defaults read from the catalog)"
            )
            .into(),
            forward: expand_forward.into(),
            reverse: layout
                .targets
                .iter()
                .map(|(table, _)| {
                    let table_q = quote_ident(table);
                    Step::transaction(
                        format!("drop table {table_q}"),
                        Lock::AccessExclusive,
                        &table_q,
                        vec![format!("DROP TABLE IF EXISTS {table_q}")],
                    )
                })
                .collect(),
            reverse_discards: None,
        };

        let mut remove_and_empty = layout.remove_statements();
        remove_and_empty.push(format!("TRUNCATE {target_list}"));
        let sync = PhasePlan {
            summary: format!(
                "sync both ways: writes to {source_q} reach {target_list} at once, writes to {target_list} \
                 reach {source_q} when their transaction commits"
            )
            .into(),
            forward: vec![Step::transaction(
                format!(
                    "install trigger {} on {source_q} and deferred trigger {} on {target_list}",
                    quote_ident(&layout.forward_trigger),
                    quote_ident(&layout.back_trigger)
                ),
                Lock::ShareRowExclusive,
                &source_q,
                layout.install_statements(),
            )]
            .into(),
            reverse: vec![Step::transaction(
                format!("drop the sync triggers and empty {target_list}, which would go stale without them"),
                Lock::AccessExclusive,
                &source_q,
                remove_and_empty,
            )]
            .into(),
            reverse_discards: None,
        };

        let backfill = PhasePlan {
            summary: format!(
                "copy the rows of {source_q} into {target_list} in primary-key batches, keeping rows the \
                 sync wrote since"
            )
            .into(),
            forward: vec![Step {
                description: format!(
                    "copy each batch of {source_q} into {target_list} (ON CONFLICT DO NOTHING)"
                )
                .into(),
                lock: Lock::RowExclusive,
                table: Some(source_q.clone().into()),
                action: Action::Backfill(zdm_plan::Backfill {
                    table: source_q.clone().into(),
                    statements: zdm_plan::texts(layout.backfill_statements()),
                }),
            }]
            .into(),
            // The copied rows are kept right by the sync like any other; they go when sync is
            // reverted.
            reverse: vec![].into(),
            reverse_discards: None,
        };

        let mut contract_reverse = vec![Step {
            description: format!(
                "rebuild {source_q} from the record contract kept, and reinstall the sync triggers"
            )
            .into(),
            lock: Lock::AccessExclusive,
            table: Some(first_target_q.clone().into()),
            action: split(
                SplitOperation::RestoreSource,
                layout.install_statements(),
                vec![format!(
                    "-- unless {source_q} exists: the statements recorded in zdm.split_snapshots by contract \
                     (CREATE TABLE, constraints, indexes, sequence ownership, grants)"
                )],
            ),
        }];
        contract_reverse.extend((0..layout.targets.len()).map(|index| {
            let table_q = quote_ident(&layout.targets[index].0);
            Step {
                description: format!("copy each batch of {table_q} back into {source_q}").into(),
                lock: Lock::RowExclusive,
                table: Some(table_q.clone().into()),
                action: Action::Backfill(zdm_plan::Backfill {
                    table: table_q.into(),
                    statements: zdm_plan::texts(vec![layout.refill_statement(index)]),
                }),
            }
        }));
        let contract = PhasePlan {
            summary: format!(
                "record how to rebuild {source_q}, drop the sync triggers and drop {source_q}"
            ).into(),
            forward: vec![
                layout.columns_check(),
                layout.dependents_check(),
                Step {
                    description: format!(
                        "record how to rebuild {source_q}, drop the sync triggers and drop {source_q}"
                    ).into(),
                    lock: Lock::AccessExclusive,
                    table: Some(source_q.clone().into()),
                    action: split(
                        SplitOperation::DropSource,
                        layout.remove_statements(),
                        vec![
                            format!(
                                "INSERT INTO zdm.split_snapshots … -- the CREATE TABLE of {source_q} and its \
                                 constraints, indexes, sequence ownership and grants, as the catalog has them"
                            ),
                            format!(
                                "ALTER SEQUENCE … OWNED BY {first_target_q}.… -- each sequence {source_q} owns, \
                                 to the first new table with its column"
                            ),
                            format!("DROP TABLE {source_q}"),
                        ],
                    ),
                },
            ].into(),
            reverse: contract_reverse.into(),
            reverse_discards: None,
        };

        Plan::new(id, Self::NAME, description, [expand, sync, backfill, contract])
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
            guard: names::split_guard(id),
            forward_trigger: names::split_trigger(&source),
            back_trigger: names::split_back_trigger(&source),
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

/// The names a plan is built from, unquoted.
struct Layout {
    source: String,
    key: Vec<String>,
    targets: Vec<(String, Vec<String>)>,
    /// The transaction-local setting that marks the sync's own writes.
    guard: String,
    /// Trigger and function on the source.
    forward_trigger: String,
    /// Function, and trigger on each new table.
    back_trigger: String,
}

fn quoted(names: &[String], prefix: &str) -> String {
    names
        .iter()
        .map(|name| format!("{prefix}{}", quote_ident(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Layout {
    fn key_list(&self) -> String {
        quoted(&self.key, "")
    }

    /// `(prefix"k1", …) = (record."k1", …)`.
    fn key_matches(&self, prefix: &str, record: &str) -> String {
        format!(
            "({}) = ({})",
            quoted(&self.key, prefix),
            quoted(&self.key, &format!("{record}."))
        )
    }

    fn key_changed(&self) -> String {
        format!(
            "TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({}) IS DISTINCT FROM ({}))",
            quoted(&self.key, "OLD."),
            quoted(&self.key, "NEW.")
        )
    }

    fn when(&self) -> String {
        format!(
            "WHEN (current_setting({}, true) IS DISTINCT FROM 'on')",
            quote_literal(&self.guard)
        )
    }

    fn all_columns(&self) -> Vec<String> {
        self.key
            .iter()
            .chain(self.targets.iter().flat_map(|(_, columns)| columns))
            .cloned()
            .collect()
    }

    fn create_preview(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|(table, columns)| {
                format!(
                    "CREATE TABLE {} ({}, {}, PRIMARY KEY ({})) -- each column typed, collated, NOT NULL \
                     and defaulted as in {}",
                    quote_ident(table),
                    self.key_list(),
                    quoted(columns, ""),
                    self.key_list(),
                    quote_ident(&self.source)
                )
            })
            .collect()
    }

    /// The source's trigger function: every write of the old version, mirrored into each
    /// new table.
    fn forward_function(&self) -> String {
        let guard = quote_literal(&self.guard);
        let deletes: String = self
            .targets
            .iter()
            .map(|(table, _)| {
                format!(
                    "    DELETE FROM {} WHERE {};\n",
                    quote_ident(table),
                    self.key_matches("", "OLD")
                )
            })
            .collect();
        let upserts: String = self
            .targets
            .iter()
            .map(|(table, columns)| {
                let all: Vec<String> = self.key.iter().chain(columns).cloned().collect();
                let set = columns
                    .iter()
                    .map(|column| {
                        let column = quote_ident(column);
                        format!("{column} = EXCLUDED.{column}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "    INSERT INTO {} AS zdm_t ({}) VALUES ({})\n\
                     \x20     ON CONFLICT ({}) DO UPDATE SET {set}\n\
                     \x20     WHERE ROW({})::text IS DISTINCT FROM ROW({})::text;\n",
                    quote_ident(table),
                    quoted(&all, ""),
                    quoted(&all, "NEW."),
                    self.key_list(),
                    quoted(columns, "zdm_t."),
                    quoted(columns, "EXCLUDED."),
                )
            })
            .collect();
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}",
            quote_ident(&self.forward_trigger),
            dollar_quote(&format!(
                "\n\
             #variable_conflict use_column\n\
             BEGIN\n\
             \x20 IF current_setting({guard}, true) = 'on' THEN\n\
             \x20   RETURN NULL;\n\
             \x20 END IF;\n\
             \x20 PERFORM set_config({guard}, 'on', true);\n\
             \x20 IF {} THEN\n\
             {deletes}\
             \x20 END IF;\n\
             \x20 IF TG_OP <> 'DELETE' THEN\n\
             {upserts}\
             \x20 END IF;\n\
             \x20 PERFORM set_config({guard}, '', true);\n\
             \x20 RETURN NULL;\n\
             END\n\
             ",
                self.key_changed(),
            ))
        )
    }

    /// Brings the source row of the key in `record` in line with the new tables: gone from
    /// all of them, it is deleted; present in the source, it takes the columns of each new
    /// table that has the key; absent, it is inserted with the columns of the new tables
    /// that have the key and NULL for the others.
    fn reconcile(&self, record: &str) -> String {
        let source_q = quote_ident(&self.source);
        let absent_everywhere = self
            .targets
            .iter()
            .map(|(table, _)| {
                format!(
                    "NOT EXISTS (SELECT 1 FROM {} WHERE {})",
                    quote_ident(table),
                    self.key_matches("", record)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        let updates: String = self
            .targets
            .iter()
            .map(|(table, columns)| {
                let set = columns
                    .iter()
                    .map(|column| {
                        let column = quote_ident(column);
                        format!("{column} = zdm_t.{column}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "      UPDATE {source_q} AS zdm_s SET {set} FROM {} AS zdm_t\n\
                     \x20       WHERE {} AND {}\n\
                     \x20       AND ROW({})::text IS DISTINCT FROM ROW({})::text;\n",
                    quote_ident(table),
                    self.key_matches("zdm_s.", record),
                    self.key_matches("zdm_t.", record),
                    quoted(columns, "zdm_s."),
                    quoted(columns, "zdm_t."),
                )
            })
            .collect();
        let values = self
            .key
            .iter()
            .map(|key| format!("{record}.{}", quote_ident(key)))
            .chain(self.targets.iter().enumerate().flat_map(|(index, (_, columns))| {
                columns
                    .iter()
                    .map(move |column| format!("zdm_t{index}.{}", quote_ident(column)))
            }))
            .collect::<Vec<_>>()
            .join(", ");
        let joins: String = self
            .targets
            .iter()
            .enumerate()
            .map(|(index, (table, _))| {
                format!(
                    "\n        LEFT JOIN {} AS zdm_t{index} ON {}",
                    quote_ident(table),
                    self.key_matches(&format!("zdm_t{index}."), record)
                )
            })
            .collect();
        let set_all = self
            .targets
            .iter()
            .flat_map(|(_, columns)| columns)
            .map(|column| {
                let column = quote_ident(column);
                format!("{column} = EXCLUDED.{column}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "    IF {absent_everywhere} THEN\n\
             \x20     DELETE FROM {source_q} WHERE {};\n\
             \x20   ELSIF EXISTS (SELECT 1 FROM {source_q} WHERE {}) THEN\n\
             {updates}\
             \x20   ELSE\n\
             \x20     INSERT INTO {source_q} ({})\n\
             \x20       SELECT {values}\n\
             \x20       FROM (SELECT 1) AS zdm_one{joins}\n\
             \x20       ON CONFLICT ({}) DO UPDATE SET {set_all};\n\
             \x20   END IF;\n",
            self.key_matches("", record),
            self.key_matches("", record),
            quoted(&self.all_columns(), ""),
            self.key_list(),
        )
    }

    /// The new tables' trigger function, run when the writing transaction commits.
    fn back_function(&self) -> String {
        let guard = quote_literal(&self.guard);
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}",
            quote_ident(&self.back_trigger),
            dollar_quote(&format!(
                "\n\
             #variable_conflict use_column\n\
             DECLARE\n\
             \x20 zdm_previous text := current_setting({guard}, true);\n\
             BEGIN\n\
             \x20 PERFORM set_config({guard}, 'on', true);\n\
             \x20 IF {} THEN\n\
             {}\
             \x20 END IF;\n\
             \x20 IF TG_OP <> 'DELETE' THEN\n\
             {}\
             \x20 END IF;\n\
             \x20 PERFORM set_config({guard}, coalesce(zdm_previous, ''), true);\n\
             \x20 RETURN NULL;\n\
             END\n\
             ",
                self.key_changed(),
                self.reconcile("OLD"),
                self.reconcile("NEW"),
            ))
        )
    }

    fn install_statements(&self) -> Vec<String> {
        let source_q = quote_ident(&self.source);
        let forward_q = quote_ident(&self.forward_trigger);
        let back_q = quote_ident(&self.back_trigger);
        let mut statements = vec![
            self.forward_function(),
            self.back_function(),
            format!("DROP TRIGGER IF EXISTS {forward_q} ON {source_q}"),
            format!(
                "CREATE TRIGGER {forward_q} AFTER INSERT OR UPDATE OR DELETE ON {source_q} FOR EACH ROW {} \
                 EXECUTE FUNCTION {forward_q}()",
                self.when()
            ),
        ];
        for (table, _) in &self.targets {
            let table_q = quote_ident(table);
            statements.push(format!("DROP TRIGGER IF EXISTS {back_q} ON {table_q}"));
            statements.push(format!(
                "CREATE CONSTRAINT TRIGGER {back_q} AFTER INSERT OR UPDATE OR DELETE ON {table_q} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {} EXECUTE FUNCTION {back_q}()",
                self.when()
            ));
        }
        statements
    }

    /// Drops every sync trigger and function; the new tables first, in the order the new
    /// version's writes lock the tables.
    fn remove_statements(&self) -> Vec<String> {
        let back_q = quote_ident(&self.back_trigger);
        let forward_q = quote_ident(&self.forward_trigger);
        let mut statements: Vec<String> = self
            .targets
            .iter()
            .map(|(table, _)| format!("DROP TRIGGER IF EXISTS {back_q} ON {}", quote_ident(table)))
            .collect();
        statements.push(format!(
            "DROP TRIGGER IF EXISTS {forward_q} ON {}",
            quote_ident(&self.source)
        ));
        statements.push(format!("DROP FUNCTION IF EXISTS {back_q}()"));
        statements.push(format!("DROP FUNCTION IF EXISTS {forward_q}()"));
        statements
    }

    /// `, (SELECT set_config(guard, 'on', true)) AS …`: joined to a copy's rows, it marks
    /// the batch's writes as the sync's own before the first row is written.
    fn guard_join(&self) -> String {
        format!(
            ", (SELECT set_config({}, 'on', true) AS zdm_split_guard) AS zdm_split_guard",
            quote_literal(&self.guard)
        )
    }

    /// One statement per new table, over a batch of the source. Rows the new table already
    /// has (written by the sync) are left out: they are neither overwritten nor locked.
    /// `FOR KEY SHARE` on the others makes a delete or key change of a row being copied
    /// wait for the batch, so that the trigger's delete sees the copy.
    fn backfill_statements(&self) -> Vec<String> {
        let source_q = quote_ident(&self.source);
        self.targets
            .iter()
            .map(|(table, columns)| {
                let table_q = quote_ident(table);
                let all: Vec<String> = self.key.iter().chain(columns).cloned().collect();
                format!(
                    "INSERT INTO {table_q} ({}) SELECT {} FROM {source_q}{} WHERE {{range}} \
                     AND NOT EXISTS (SELECT 1 FROM {table_q} AS zdm_copied WHERE {}) \
                     FOR KEY SHARE OF {source_q} ON CONFLICT ({}) DO NOTHING",
                    quoted(&all, ""),
                    quoted(&all, &format!("{source_q}.")),
                    self.guard_join(),
                    self.key_matches("zdm_copied.", &source_q),
                    self.key_list(),
                )
            })
            .collect()
    }

    /// Copies the rows of new table `index` back into the source, joined with the tables
    /// after it; keys present in an earlier table were copied by its pass, keys already in
    /// the source were written there by the sync.
    fn refill_statement(&self, index: usize) -> String {
        let source_q = quote_ident(&self.source);
        let (table, _) = &self.targets[index];
        let table_q = quote_ident(table);
        let values = self
            .key
            .iter()
            .map(|key| quote_ident(key))
            .chain(
                self.targets
                    .iter()
                    .enumerate()
                    .flat_map(|(other, (other_table, columns))| {
                        let other_q = quote_ident(other_table);
                        columns.iter().map(move |column| {
                            if other < index {
                                "NULL".to_owned()
                            } else {
                                format!("{other_q}.{}", quote_ident(column))
                            }
                        })
                    }),
            )
            .collect::<Vec<_>>()
            .join(", ");
        let joins: String = self.targets[index + 1..]
            .iter()
            .map(|(other, _)| format!(" LEFT JOIN {} USING ({})", quote_ident(other), self.key_list()))
            .collect();
        let done: String = self.targets[..index]
            .iter()
            .map(|(other, _)| {
                format!(
                    " AND NOT EXISTS (SELECT 1 FROM {} AS zdm_done WHERE {})",
                    quote_ident(other),
                    self.key_matches("zdm_done.", &table_q)
                )
            })
            .collect();
        format!(
            "INSERT INTO {source_q} ({}) SELECT {values} FROM {table_q}{joins}{} WHERE {{range}}{done} \
             AND NOT EXISTS (SELECT 1 FROM {source_q} AS zdm_copied WHERE {}) \
             FOR KEY SHARE OF {table_q} ON CONFLICT ({}) DO NOTHING",
            quoted(&self.all_columns(), ""),
            self.guard_join(),
            self.key_matches("zdm_copied.", &table_q),
            self.key_list(),
        )
    }

    /// Contract drops the source: a column added to it since expand would be lost.
    fn columns_check(&self) -> Step {
        let source_q = quote_ident(&self.source);
        let names = self
            .all_columns()
            .iter()
            .map(|column| quote_literal(column))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = format!(
            "FROM pg_attribute WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped \
             AND attname::text <> ALL (ARRAY[{names}])",
            quote_literal(&source_q)
        );
        Step {
            description: format!("check that every column of {source_q} is in a new table").into(),
            lock: Lock::None,
            table: None,
            action: Action::Check(zdm_plan::Check {
                expectation: format!(
                    "every column of {source_q} in one of the new tables (a column added since expand would be \
                     lost with the table; split it with a migration of its own)"
                ).into(),
                count_sql: format!("SELECT count(*) {filter}").into(),
                sample_sql: format!("SELECT quote_ident(attname) {filter} ORDER BY attnum LIMIT 5").into(),
            }),
        }
    }

    /// Contract drops the source without CASCADE: foreign keys and views that use it must
    /// be pointed at the new tables first.
    fn dependents_check(&self) -> Step {
        let source_q = quote_ident(&self.source);
        let source = quote_literal(&source_q);
        let dependents = format!(
            "SELECT format('foreign key %I of %s', c.conname, c.conrelid::regclass) AS what FROM pg_constraint c \
             WHERE c.contype = 'f' AND c.confrelid = to_regclass({source}) AND c.conrelid <> c.confrelid \
             UNION SELECT format('view %s', r.ev_class::regclass) FROM pg_depend d \
             JOIN pg_rewrite r ON r.oid = d.objid \
             WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             AND d.refobjid = to_regclass({source}) AND r.ev_class <> d.refobjid"
        );
        Step {
            description: format!("check that no foreign key or view outside {source_q} uses it").into(),
            lock: Lock::None,
            table: None,
            action: Action::Check(zdm_plan::Check {
                expectation: format!(
                    "no foreign key or view outside {source_q} using it (point them at the new tables first)"
                )
                .into(),
                count_sql: format!("SELECT count(*) FROM ({dependents}) AS zdm_dependents").into(),
                sample_sql: format!(
                    "SELECT what FROM ({dependents}) AS zdm_dependents ORDER BY what LIMIT 5"
                )
                .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

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
