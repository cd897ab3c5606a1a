//! The sync triggers of a split: the source's, mirroring each write of the old version into
//! the new tables at once, and the new tables' deferred one, bringing the source in line at
//! commit. Both stand aside for writes marked with the guard setting.

use super::layout::{assignments, quoted, Layout};
use crate::sql::{dollar_quote, quote_ident, quote_literal};

impl Layout {
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
                    self.rel(table),
                    self.key_matches("", "OLD")
                )
            })
            .collect();
        let upserts: String = self
            .targets
            .iter()
            .map(|(table, columns)| {
                let all: Vec<String> = self.key.iter().chain(columns).cloned().collect();
                let set = assignments(columns, "EXCLUDED");
                format!(
                    "    INSERT INTO {} AS zdm_t ({}) VALUES ({})\n\
                     \x20     ON CONFLICT ({}) DO UPDATE SET {set}\n\
                     \x20     WHERE ROW({})::text IS DISTINCT FROM ROW({})::text;\n",
                    self.rel(table),
                    quoted(&all, ""),
                    quoted(&all, "NEW."),
                    self.key_list(),
                    quoted(columns, "zdm_t."),
                    quoted(columns, "EXCLUDED."),
                )
            })
            .collect();
        format!(
            // Under the migration's own path, not the writer's: a version schema first on the
            // new version's path shows the source without the columns written here.
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS {}",
            self.rel(&self.forward_trigger),
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
        let source_q = self.rel(&self.source);
        let absent_everywhere = self
            .targets
            .iter()
            .map(|(table, _)| {
                format!(
                    "NOT EXISTS (SELECT 1 FROM {} WHERE {})",
                    self.rel(table),
                    self.key_matches("", record)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "    IF {absent_everywhere} THEN\n\
             \x20     DELETE FROM {source_q} WHERE {};\n\
             \x20   ELSIF EXISTS (SELECT 1 FROM {source_q} WHERE {}) THEN\n\
             {}\
             \x20   ELSE\n\
             {}\
             \x20   END IF;\n",
            self.key_matches("", record),
            self.key_matches("", record),
            self.reconcile_updates(record),
            self.reconcile_insert(record),
        )
    }

    /// The source row of `record`'s key takes the columns of each new table that has it.
    fn reconcile_updates(&self, record: &str) -> String {
        let source_q = self.rel(&self.source);
        self.targets
            .iter()
            .map(|(table, columns)| {
                format!(
                    "      UPDATE {source_q} AS zdm_s SET {} FROM {} AS zdm_t\n\
                     \x20       WHERE {} AND {}\n\
                     \x20       AND ROW({})::text IS DISTINCT FROM ROW({})::text;\n",
                    assignments(columns, "zdm_t"),
                    self.rel(table),
                    self.key_matches("zdm_s.", record),
                    self.key_matches("zdm_t.", record),
                    quoted(columns, "zdm_s."),
                    quoted(columns, "zdm_t."),
                )
            })
            .collect()
    }

    /// The source row of `record`'s key, inserted from the new tables that have the key,
    /// NULL for the columns of those that do not.
    fn reconcile_insert(&self, record: &str) -> String {
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
                    self.rel(table),
                    self.key_matches(&format!("zdm_t{index}."), record)
                )
            })
            .collect();
        let non_key: Vec<String> = self
            .targets
            .iter()
            .flat_map(|(_, columns)| columns)
            .cloned()
            .collect();
        format!(
            "      INSERT INTO {} ({})\n\
             \x20       SELECT {values}\n\
             \x20       FROM (SELECT 1) AS zdm_one{joins}\n\
             \x20       ON CONFLICT ({}) DO UPDATE SET {};\n",
            self.rel(&self.source),
            quoted(&self.all_columns(), ""),
            self.key_list(),
            assignments(&non_key, "EXCLUDED"),
        )
    }

    /// The new tables' trigger function, run when the writing transaction commits.
    fn back_function(&self) -> String {
        let guard = quote_literal(&self.guard);
        format!(
            // Under the migration's own path, not the writer's: a version schema first on the
            // new version's path shows the source without the columns written here.
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS {}",
            self.rel(&self.back_trigger),
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

    pub(super) fn install_statements(&self) -> Vec<String> {
        let source_q = self.rel(&self.source);
        let forward_q = quote_ident(&self.forward_trigger);
        let back_q = quote_ident(&self.back_trigger);
        let forward_function = self.rel(&self.forward_trigger);
        let back_function = self.rel(&self.back_trigger);
        let mut statements = vec![
            self.forward_function(),
            self.back_function(),
            format!("DROP TRIGGER IF EXISTS {forward_q} ON {source_q}"),
            format!(
                "CREATE TRIGGER {forward_q} AFTER INSERT OR UPDATE OR DELETE ON {source_q} FOR EACH ROW {} \
                 EXECUTE FUNCTION {forward_function}()",
                self.when()
            ),
        ];
        for (table, _) in &self.targets {
            let table_q = self.rel(table);
            statements.push(format!("DROP TRIGGER IF EXISTS {back_q} ON {table_q}"));
            statements.push(format!(
                "CREATE CONSTRAINT TRIGGER {back_q} AFTER INSERT OR UPDATE OR DELETE ON {table_q} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {} EXECUTE FUNCTION {back_function}()",
                self.when()
            ));
        }
        statements
    }

    /// Drops every sync trigger and function; the new tables first, in the order the new
    /// version's writes lock the tables.
    pub(super) fn remove_statements(&self) -> Vec<String> {
        let back_q = quote_ident(&self.back_trigger);
        let forward_q = quote_ident(&self.forward_trigger);
        let mut statements: Vec<String> = self
            .targets
            .iter()
            .map(|(table, _)| format!("DROP TRIGGER IF EXISTS {back_q} ON {}", self.rel(table)))
            .collect();
        statements.push(format!(
            "DROP TRIGGER IF EXISTS {forward_q} ON {}",
            self.rel(&self.source)
        ));
        statements.push(format!("DROP FUNCTION IF EXISTS {}()", self.rel(&self.back_trigger)));
        statements.push(format!("DROP FUNCTION IF EXISTS {}()", self.rel(&self.forward_trigger)));
        statements
    }
}
