//! Step builders shared by operations: the expectations on the live schema, the safe NOT
//! NULL sequence, concurrent index builds, sync trigger installation, the trigger that
//! fills NULLs and the batched backfill of NULLs, each with its idempotent reversal.

use std::fmt;

use crate::sql::{dollar_quote, quote_ident, quote_literal, STATE_SCHEMA};
use crate::table::Table;
use zdm_plan::names;
use zdm_plan::{Action, Check, Expectation, Lock, Step};

/// Expand's look at the live schema: `table_q` (quoted) exists.
pub fn table_exists(table_q: &str) -> Step {
    Step::expect(Expectation::TableExists {
        table: table_q.to_owned().into(),
    })
}

/// No relation is named `table_q` (quoted).
pub fn table_absent(table_q: &str) -> Step {
    Step::expect(Expectation::TableAbsent {
        table: table_q.to_owned().into(),
    })
}

/// `column` (unquoted) exists in `table_q`, of type `ty` when one is given.
pub fn column_exists(table_q: &str, column: &str, ty: Option<&str>) -> Step {
    Step::expect(Expectation::ColumnExists {
        table: table_q.to_owned().into(),
        column: column.to_owned().into(),
        ty: ty.map(|ty| ty.to_owned().into()),
    })
}

/// `column` (unquoted) does not exist in `table_q`.
pub fn column_absent(table_q: &str, column: &str) -> Step {
    Step::expect(Expectation::ColumnAbsent {
        table: table_q.to_owned().into(),
        column: column.to_owned().into(),
    })
}

/// `column` (unquoted) exists in `table_q` and accepts NULLs.
pub fn column_nullable(table_q: &str, column: &str) -> Step {
    Step::expect(Expectation::ColumnNullable {
        table: table_q.to_owned().into(),
        column: column.to_owned().into(),
    })
}

/// `table_q` has no constraint `constraint` (unquoted).
pub fn constraint_absent(table_q: &str, constraint: &str) -> Step {
    Step::expect(Expectation::ConstraintAbsent {
        table: table_q.to_owned().into(),
        constraint: constraint.to_owned().into(),
    })
}

/// What the fragment given as `key` reads and calls, checked against the live catalog
/// (see [`Expectation::FragmentReads`]); `None` when it reads no column and calls nothing.
pub fn fragment_reads(table_q: &str, key: &str, fragment: &str) -> Option<Step> {
    let reads = crate::grammar::reads(fragment);
    reads_step(table_q, key, reads.columns, reads.functions)
}

fn reads_step(table_q: &str, key: &str, columns: Vec<String>, functions: Vec<String>) -> Option<Step> {
    if columns.is_empty() && functions.is_empty() {
        return None;
    }
    Some(Step::expect(Expectation::FragmentReads {
        table: table_q.to_owned().into(),
        key: key.to_owned().into(),
        columns: zdm_plan::texts(columns),
        functions: zdm_plan::texts(functions),
    }))
}

/// Drops a column the change added; safe when it is gone already.
pub fn drop_column(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    Step::transaction(
        format!("drop column {column_q}"),
        Lock::AccessExclusive,
        &table_q,
        [format!("ALTER TABLE {table_q} DROP COLUMN IF EXISTS {column_q}")],
    )
}

/// The name of the CHECK constraint that stands in for NOT NULL while it is validated.
pub fn not_null_check_name(table: &Table, column: &str) -> String {
    names::not_null_stand_in(table.name(), column)
}

/// Counts the NULLs left and shows a few rows holding them; asked before any lock is
/// taken for the constraint.
pub fn no_nulls_check(table_q: &str, column: &str) -> Step {
    let column_q = quote_ident(column);
    Step::check(
        format!("check that no row of {table_q} has {column_q} NULL"),
        Lock::AccessShare,
        Some(table_q),
        Check::new(
            format!("no NULL in {table_q}.{column_q}"),
            format!("SELECT count(*) FROM {table_q} WHERE {column_q} IS NULL"),
            format!("SELECT zdm_row::text FROM {table_q} AS zdm_row WHERE {column_q} IS NULL LIMIT 5"),
        ),
    )
}

/// NOT NULL without a scan under ACCESS EXCLUSIVE: a NOT VALID check (catalog only), its
/// validation under SHARE UPDATE EXCLUSIVE (reads and writes go on), then SET NOT NULL,
/// which PostgreSQL 12+ proves from the valid check without scanning, and the check's
/// removal.
pub fn set_not_null(table: &Table, column: &str) -> Vec<Step> {
    vec![
        no_nulls_check(&table.sql(), column),
        add_not_null_check(table, column),
        validate_not_null_check(table, column),
        set_not_null_from_check(table, column),
    ]
}

/// `CHECK (col IS NOT NULL) NOT VALID`: catalog only, and from its commit on every write
/// is checked.
pub fn add_not_null_check(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("add CHECK ({column_q} IS NOT NULL) NOT VALID"),
        Lock::AccessExclusive,
        &table_q,
        vec![format!(
            "ALTER TABLE {table_q} ADD CONSTRAINT {check_q} CHECK ({column_q} IS NOT NULL) NOT VALID"
        )],
    )
}

/// Validates the check of [`add_not_null_check`] in a transaction of its own, under SHARE
/// UPDATE EXCLUSIVE: the scan lets reads and writes go on.
pub fn validate_not_null_check(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("validate the check on {column_q} while reads and writes go on"),
        Lock::ShareUpdateExclusive,
        &table_q,
        vec![format!("ALTER TABLE {table_q} VALIDATE CONSTRAINT {check_q}")],
    )
}

/// `SET NOT NULL`, proven by the validated check without a scan, and the check's removal.
pub fn set_not_null_from_check(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("set {column_q} NOT NULL, proven by the valid check, and drop the check"),
        Lock::AccessExclusive,
        &table_q,
        vec![
            format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} SET NOT NULL"),
            format!("ALTER TABLE {table_q} DROP CONSTRAINT {check_q}"),
        ],
    )
}

/// Removes the check of [`add_not_null_check`]; safe when it is gone already.
pub fn drop_not_null_check(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("drop the check {check_q}"),
        Lock::AccessExclusive,
        &table_q,
        vec![format!(
            "ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {check_q}"
        )],
    )
}

/// Undoes [`set_not_null`] from any point of it.
pub fn drop_not_null(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let check_q = quote_ident(&not_null_check_name(table, column));
    Step::transaction(
        format!("drop NOT NULL from {column_q}"),
        Lock::AccessExclusive,
        &table_q,
        vec![
            format!("ALTER TABLE {table_q} DROP CONSTRAINT IF EXISTS {check_q}"),
            format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP NOT NULL"),
        ],
    )
}

/// `CREATE INDEX CONCURRENTLY`; the runner drops an INVALID leftover of the same name
/// first.
pub fn create_index(table: &Table, index: &str, definition: &str, unique: bool) -> Step {
    let table_q = table.sql();
    // CREATE INDEX names the index alone: it is made in its table's schema.
    let index_q = quote_ident(index);
    let unique = if unique { "UNIQUE " } else { "" };
    Step {
        description: format!("build {unique}index {index_q} concurrently").into(),
        lock: Lock::ShareUpdateExclusive,
        table: Some(table_q.clone().into()),
        action: Action::CreateIndexConcurrently {
            index: table.beside(index).into(),
            sql: format!("CREATE {unique}INDEX CONCURRENTLY {index_q} ON {table_q} {definition}").into(),
        },
    }
}

/// `DROP INDEX CONCURRENTLY IF EXISTS`.
pub fn drop_index(table: &Table, index: &str) -> Step {
    let index_q = table.beside(index);
    Step {
        description: format!("drop index {index_q} concurrently").into(),
        lock: Lock::ShareUpdateExclusive,
        table: Some(table.sql().into()),
        action: Action::DropIndexConcurrently {
            index: index_q.clone().into(),
            sql: format!("DROP INDEX CONCURRENTLY IF EXISTS {index_q}").into(),
        },
    }
}

/// A row-level trigger and its function, `name` used for both. The body is PL/pgSQL
/// statements; the function does no dynamic SQL and no catalog look-ups, since it runs on
/// every write of the application.
pub struct Trigger {
    pub table: Table,
    /// The function's name and the trigger's, unquoted; the function lives beside the table.
    pub name: String,
    /// `BEFORE INSERT OR UPDATE`, `AFTER INSERT OR UPDATE OR DELETE`, …
    pub timing: String,
    pub body: String,
    /// `WHEN (…)`: the server checks it before calling the function, so the writes it
    /// leaves out (the backfill's own, which set the column) pay no function call.
    pub when: Option<String>,
    /// A second trigger on the same function, `(name, timing, when)`, for an event that
    /// needs a condition of its own (an INSERT trigger's `WHEN` cannot read `OLD`).
    pub twin: Option<(String, String, Option<String>)>,
}

impl Trigger {
    /// The statements that install function and trigger (idempotent).
    pub fn statements(&self) -> Vec<String> {
        let table_q = self.table.sql();
        let name_q = self.function();
        vec![
            format!(
                "CREATE OR REPLACE FUNCTION {name_q}() RETURNS trigger LANGUAGE plpgsql AS {}",
                dollar_quote(&format!(
                    "\n#variable_conflict use_column\nBEGIN\n{}\nEND\n",
                    self.body
                ))
            ),
        ]
        .into_iter()
        .chain(self.triggers().flat_map(|(name, timing, when)| {
            let trigger_q = quote_ident(name);
            let when = when.map(|when| format!(" WHEN ({when})")).unwrap_or_default();
            [
                format!("DROP TRIGGER IF EXISTS {trigger_q} ON {table_q}"),
                format!(
                    "CREATE TRIGGER {trigger_q} {timing} ON {table_q} FOR EACH ROW{when} EXECUTE FUNCTION {name_q}()"
                ),
            ]
        }))
        .collect()
    }

    /// The trigger function, as SQL names it.
    pub fn function(&self) -> String {
        self.table.beside(&self.name)
    }

    /// `(name, timing, when)` of each trigger on the function.
    fn triggers(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
        std::iter::once((self.name.as_str(), self.timing.as_str(), self.when.as_deref())).chain(
            self.twin
                .iter()
                .map(|(name, timing, when)| (name.as_str(), timing.as_str(), when.as_deref())),
        )
    }

    /// Installs function and trigger in one transaction.
    pub fn install(&self, description: impl Into<zdm_plan::Text>) -> Step {
        Step::transaction(
            description,
            Lock::ShareRowExclusive,
            &self.table.sql(),
            self.statements(),
        )
    }

    /// Removes trigger and function; safe when either is already gone.
    pub fn remove(&self, description: impl Into<zdm_plan::Text>) -> Step {
        Step::transaction(
            description,
            Lock::AccessExclusive,
            &self.table.sql(),
            self.removal_statements(),
        )
    }

    /// The statements of [`Trigger::remove`].
    pub fn removal_statements(&self) -> Vec<String> {
        let table_q = self.table.sql();
        self.triggers()
            .map(|(name, ..)| format!("DROP TRIGGER IF EXISTS {} ON {table_q}", quote_ident(name)))
            .chain([format!("DROP FUNCTION IF EXISTS {}()", self.function())])
            .collect()
    }
}

/// When the trigger of [`fill_trigger`] computes the column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillWhen {
    /// When a write leaves it NULL: an INSERT without it, or an UPDATE of a row where it is
    /// still NULL. An UPDATE that sets an existing value to NULL on purpose (or a reverted
    /// backfill) is respected.
    LeftNull,
    /// The column follows the expression for writes that do not set it: an INSERT that
    /// leaves it NULL, and any UPDATE that leaves it unchanged (the old version changing
    /// the columns the expression reads). A write that sets the column is respected.
    Derived,
    /// Whenever it would be NULL: NULL is what the change removes, so an old version's
    /// NULL means the declared value. The backfill's reversal alone writes NULLs, telling
    /// the trigger through the transaction-local setting `zdm.unfill` (see
    /// [`unfill_recorded`]).
    AnyNull,
}

/// The `BEFORE INSERT OR UPDATE` trigger that computes `column` from `expression`, written
/// over the row's columns, for the writes `when` selects.
pub fn fill_trigger(table: &Table, column: &str, expression: &str, when: FillWhen) -> Trigger {
    let column_q = quote_ident(column);
    let name = names::fill_trigger(table.name(), column);
    let body = match when {
        // A write that leaves the column NULL is filled; one that sets an existing value
        // to NULL on purpose (or a reverted backfill) is respected.
        FillWhen::LeftNull => format!(
            "  IF NEW.{column_q} IS NULL AND (TG_OP = 'INSERT' OR OLD.{column_q} IS NULL) THEN\n\
             \x20   NEW.{column_q} := (SELECT ({expression}) FROM (SELECT NEW.*) AS zdm_row);\n\
             \x20 END IF;\n\
             \x20 RETURN NEW;"
        ),
        FillWhen::Derived => format!(
            "  IF (TG_OP = 'INSERT' AND NEW.{column_q} IS NULL)\n\
             \x20    OR (TG_OP = 'UPDATE' AND NEW.{column_q} IS NOT DISTINCT FROM OLD.{column_q}) THEN\n\
             \x20   NEW.{column_q} := (SELECT ({expression}) FROM (SELECT NEW.*) AS zdm_row);\n\
             \x20 END IF;\n\
             \x20 RETURN NEW;"
        ),
        FillWhen::AnyNull => format!(
            "  IF NEW.{column_q} IS NULL\n\
             \x20    AND current_setting('zdm.unfill', true) IS DISTINCT FROM {} THEN\n\
             \x20   NEW.{column_q} := (SELECT ({expression}) FROM (SELECT NEW.*) AS zdm_row);\n\
             \x20 END IF;\n\
             \x20 RETURN NEW;",
            quote_literal(&name)
        ),
    };
    let left_null = format!("NEW.{column_q} IS NULL");
    let (timing, when, twin) = match when {
        // Two triggers: an UPDATE that leaves the column unchanged recomputes it, an INSERT
        // that leaves it out computes it; writes that set it, the backfill's among them,
        // call nothing.
        FillWhen::Derived => (
            "BEFORE UPDATE",
            format!("NEW.{column_q} IS NOT DISTINCT FROM OLD.{column_q}"),
            Some((
                names::fill_insert_trigger(table.name(), column),
                "BEFORE INSERT".to_owned(),
                Some(left_null),
            )),
        ),
        FillWhen::LeftNull | FillWhen::AnyNull => ("BEFORE INSERT OR UPDATE", left_null, None),
    };
    Trigger {
        table: table.clone(),
        name,
        timing: timing.to_owned(),
        body,
        when: Some(when),
        twin,
    }
}

/// What the application's writes do to the column a backfill fills, while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// A [`fill_trigger`] fills every row written (bar a NULL its writer set on purpose),
    /// so the batches may walk heap pages.
    Filled,
    /// Rows written may be left NULL (a default covers inserts only): batches go by keys.
    LeftNull,
}

impl Writes {
    fn route(self, step: Step) -> Step {
        match self {
            Writes::Filled => step.with_writes_filled(),
            Writes::LeftNull => step,
        }
    }
}

/// Sets the NULLs of `column` to `value` in batches.
pub fn backfill_nulls(table: &Table, column: &str, value: &str, writes: Writes) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    writes.route(Step::backfill(
        format!("set {column_q} = {value} where it is NULL"),
        &table_q,
        [format!(
            "UPDATE {table_q} SET {column_q} = ({value}) WHERE {{range}} AND {column_q} IS NULL"
        )],
    ))
}

/// Undoes [`backfill_nulls`] on a column the change added, whose every value came from it.
pub fn reset_to_null(table: &Table, column: &str) -> Step {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    Step::backfill(
        format!("set {column_q} back to NULL"),
        &table_q,
        [format!(
            "UPDATE {table_q} SET {column_q} = NULL WHERE {{range}} AND {column_q} IS NOT NULL"
        )],
    )
}

/// The table, in the state schema, where the backfill of a column that existed before
/// records the primary key of every row it filled and the value it filled in, so that its
/// reversal restores exactly those NULLs, and only where the row still holds that value: no
/// value the application wrote, before the backfill or since, is overwritten.
///
/// One row per batch, holding the keys the batch filled and the values it wrote as arrays: a
/// row and an index entry per key filled doubled the backfill's WAL. The reversal first
/// unnests the arrays into [`FillRecord::lookup`], a table with one indexed row per key,
/// which each of its batches probes.
pub struct FillRecord {
    /// `{state}."<id>_filled"`, as statements name it: the runner fills in the schema.
    table: String,
    /// `"<id>_filled"`, as descriptions name it (they are shown as they are).
    name: String,
    /// `{state}."<id>_filled_keys"`: the reversal's lookup, one row per key.
    lookup: String,
}

impl fmt::Display for FillRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in the state schema", self.name)
    }
}

pub fn fill_record(id: &str) -> FillRecord {
    let name = quote_ident(&names::fill_record(id));
    FillRecord {
        table: format!("{STATE_SCHEMA}.{name}"),
        name,
        lookup: format!("{STATE_SCHEMA}.{}", quote_ident(&names::fill_lookup(id))),
    }
}

fn create_fill_record(record: &FillRecord) -> Step {
    let table = &record.table;
    Step::transaction(
        format!("create {record}, the record of the rows the backfill fills"),
        Lock::None,
        table,
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {table} (zdm_keys text[] NOT NULL, zdm_new jsonb[] NOT NULL)"
        )],
    )
}

/// [`backfill_nulls`] for a column that existed before: each batch also records the keys
/// of the rows it filled in `record` (see [`fill_record`]), in the same transaction, as
/// one row. The statement's result, `zdm_rows`, tells the runner how many rows it filled.
pub fn backfill_nulls_recorded(
    table: &Table,
    column: &str,
    value: &str,
    record: &FillRecord,
    writes: Writes,
) -> Vec<Step> {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let record_table = &record.table;
    vec![
        create_fill_record(record),
        writes.route(Step::backfill(
            format!("set {column_q} = {value} where it is NULL, recording each row filled"),
            &table_q,
            [format!(
                "WITH zdm_filled AS (UPDATE {table_q} SET {column_q} = ({value}) \
                 WHERE {{range}} AND {column_q} IS NULL \
                 RETURNING (SELECT zdm_k::text FROM (SELECT {{key}}) AS zdm_k) AS zdm_key, to_jsonb({column_q}) AS zdm_new), \
                 zdm_record AS (INSERT INTO {record_table} (zdm_keys, zdm_new) \
                 SELECT array_agg(zdm_key), array_agg(zdm_new) FROM zdm_filled HAVING count(*) > 0) \
                 SELECT count(*) AS zdm_rows FROM zdm_filled"
            )],
        )),
    ]
}

/// Undoes [`backfill_nulls_recorded`]: the recorded rows that still hold the value filled
/// in get their NULL back (a row written since keeps what its writer meant), then the
/// record goes. Safe after a partial backfill (the record is created if it never was).
/// With `bypass`, the name of an [`FillWhen::AnyNull`] trigger on the table, each batch
/// tells that trigger to let its NULLs through.
pub fn unfill_recorded(table: &Table, column: &str, record: &FillRecord, bypass: Option<&str>) -> Vec<Step> {
    let table_q = table.sql();
    let column_q = quote_ident(column);
    let record_table = &record.table;
    // The one-row FROM item runs before the first row is updated, so the trigger sees the
    // setting for every row of the batch; it ends with the batch's transaction.
    let from = bypass.map_or_else(String::new, |trigger| {
        format!(
            " FROM (SELECT set_config('zdm.unfill', {}, true) AS zdm_unfill) AS zdm_unfill",
            quote_literal(trigger)
        )
    });
    let lookup = &record.lookup;
    vec![
        create_fill_record(record),
        // Idempotent, so a reversal resumed after a crash, or after the backfill ran again
        // meanwhile, finds every key recorded so far.
        Step::transaction(
            format!("list the keys {record} holds, one indexed row each"),
            Lock::None,
            lookup,
            vec![
                format!("CREATE TABLE IF NOT EXISTS {lookup} (zdm_key text PRIMARY KEY, zdm_new jsonb NOT NULL)"),
                format!(
                    "INSERT INTO {lookup} (zdm_key, zdm_new) SELECT u.zdm_key, u.zdm_new FROM {record_table}, \
                     unnest(zdm_keys, zdm_new) AS u(zdm_key, zdm_new) ON CONFLICT DO NOTHING"
                ),
            ],
        ),
        Step::backfill(
            format!("set {column_q} back to NULL in the rows the backfill filled that still hold the value"),
            &table_q,
            [format!(
                "UPDATE {table_q} SET {column_q} = NULL{from} WHERE {{range}} AND {column_q} IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM {lookup} AS zdm_f \
                 WHERE zdm_f.zdm_key = (SELECT zdm_k::text FROM (SELECT {{key}}) AS zdm_k) \
                 AND zdm_f.zdm_new = to_jsonb({table_q}.{column_q}))"
            )],
        ),
        Step::transaction(
            format!("drop {record} and the list of its keys"),
            Lock::AccessExclusive,
            record_table,
            vec![
                format!("DROP TABLE IF EXISTS {lookup}"),
                format!("DROP TABLE IF EXISTS {record_table}"),
            ],
        ),
    ]
}
