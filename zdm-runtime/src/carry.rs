//! Column swaps whose SQL depends on the live catalog: `rename_column` and `change_type`
//! add a column beside an existing one, keep both in step, and at contract drop the old one.
//! Everything the old column carries (type, collation, default, NOT NULL, CHECK and FOREIGN
//! KEY constraints, UNIQUE constraints, indexes, comment, statistics target) must reach the
//! new column, and come back exactly when the contract is reverted. The macro cannot know
//! any of it, so it is read here, at run time.
//!
//! The first step of expand ([`CarryWork::Inspect`]) reads the column, refuses what cannot
//! be carried safely (naming the object), checks every rewritten definition on a scratch
//! copy of the table in a transaction it rolls back, and records what it found in
//! `zdm.carried_columns` / `zdm.carried_objects`. Every later step works from that record,
//! so a resumed or reverted phase acts on what the first run saw, not on a catalog the
//! migration itself has half changed. Each step is idempotent: it looks at the catalog
//! before each change and skips what is already done.

use postgres::{Client, Transaction};

use crate::backfill;
use crate::error::{describe, Error, Result};
use crate::runner::{short_transaction, Runner, StepContext};
use crate::state;
use zdm_plan::names;
use zdm_plan::sql::{quote_ident, quote_literal};
use zdm_plan::{Carry, CarryTarget, CarryWork};

/// What a carry step did.
pub(crate) struct Outcome {
    pub(crate) rows: u64,
    pub(crate) lock_retries: u32,
    pub(crate) already_done: bool,
    pub(crate) note: Option<String>,
}

impl Outcome {
    fn done(lock_retries: u32) -> Outcome {
        Outcome {
            rows: 0,
            lock_retries,
            already_done: false,
            note: None,
        }
    }

    fn noted(mut self, note: impl Into<String>) -> Outcome {
        self.note = Some(note.into());
        self
    }
}

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS zdm.carried_columns (
    migration     text PRIMARY KEY,
    stage         text NOT NULL,
    in_place      boolean NOT NULL,
    old_type      text NOT NULL,
    new_type      text NOT NULL,
    old_collation text,
    new_collation text,
    old_default   text,
    new_default   text,
    not_null      boolean NOT NULL,
    comment       text,
    statistics    integer
);
CREATE TABLE IF NOT EXISTS zdm.carried_objects (
    migration          text NOT NULL REFERENCES zdm.carried_columns ON DELETE CASCADE,
    position           integer NOT NULL,
    kind               text NOT NULL,
    name               text NOT NULL,
    carried_name       text NOT NULL,
    definition         text NOT NULL,
    carried_definition text NOT NULL,
    validated          boolean NOT NULL,
    attributes         text NOT NULL,
    PRIMARY KEY (migration, position)
);";

/// Where a swap stands; moves with the work, in the same transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Inspected; nothing changed yet.
    Inspected,
    /// The new column exists.
    Added,
    /// The type was changed in place.
    Altered,
    /// The old column is gone and the new one took its place.
    Swapped,
    /// A swap was undone: the old column is back, empty until the refill.
    Unswapped,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Inspected => "inspected",
            Stage::Added => "added",
            Stage::Altered => "altered",
            Stage::Swapped => "swapped",
            Stage::Unswapped => "unswapped",
        }
    }

    fn from_name(name: &str) -> Stage {
        match name {
            "added" => Stage::Added,
            "altered" => Stage::Altered,
            "swapped" => Stage::Swapped,
            "unswapped" => Stage::Unswapped,
            _ => Stage::Inspected,
        }
    }
}

/// The kinds of object carried from one column to the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Index,
    UniqueIndex,
    /// A UNIQUE constraint: its index is built like any other, and attached with
    /// `ADD CONSTRAINT … UNIQUE USING INDEX`.
    Unique,
    Check,
    ForeignKey,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Index => "index",
            Kind::UniqueIndex => "unique index",
            Kind::Unique => "unique constraint",
            Kind::Check => "check constraint",
            Kind::ForeignKey => "foreign key",
        }
    }

    fn from_name(name: &str) -> Kind {
        match name {
            "unique index" => Kind::UniqueIndex,
            "unique constraint" => Kind::Unique,
            "check constraint" => Kind::Check,
            "foreign key" => Kind::ForeignKey,
            _ => Kind::Index,
        }
    }

    fn is_index(self) -> bool {
        matches!(self, Kind::Index | Kind::UniqueIndex | Kind::Unique)
    }
}

/// An index or constraint on the old column, and its copy on the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Object {
    kind: Kind,
    name: String,
    carried_name: String,
    /// Indexes: the `USING …` part of `pg_get_indexdef`; constraints: the definition
    /// without `NOT VALID`.
    definition: String,
    /// The same with the column substituted.
    carried_definition: String,
    /// Whether the original constraint was validated; the copy is validated only then.
    validated: bool,
    /// `DEFERRABLE …` of a UNIQUE constraint.
    attributes: String,
}

impl Object {
    fn name_for(&self, target: CarryTarget) -> &str {
        match target {
            CarryTarget::New => &self.carried_name,
            CarryTarget::Original => &self.name,
        }
    }

    fn definition_for(&self, target: CarryTarget) -> &str {
        match target {
            CarryTarget::New => &self.carried_definition,
            CarryTarget::Original => &self.definition,
        }
    }

    fn create_index(&self, table: &str, target: CarryTarget, concurrently: bool) -> String {
        let unique = if self.kind == Kind::Index { "" } else { "UNIQUE " };
        let concurrently = if concurrently { "CONCURRENTLY " } else { "" };
        format!(
            "CREATE {unique}INDEX {concurrently}{} ON {table} {}",
            quote_ident(self.name_for(target)),
            self.definition_for(target)
        )
    }
}

/// What expand found out about the column.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    stage: Stage,
    in_place: bool,
    old_type: String,
    new_type: String,
    old_collation: Option<String>,
    new_collation: Option<String>,
    old_default: Option<String>,
    new_default: Option<String>,
    not_null: bool,
    comment: Option<String>,
    statistics: Option<i32>,
    objects: Vec<Object>,
}

impl Record {
    fn column_definition(&self, target: CarryTarget) -> String {
        let (ty, collation) = match target {
            CarryTarget::New => (&self.new_type, &self.new_collation),
            CarryTarget::Original => (&self.old_type, &self.old_collation),
        };
        match collation {
            Some(collation) => format!("{ty} COLLATE {collation}"),
            None => ty.clone(),
        }
    }

    fn substitute(&self, sql: &str) -> String {
        zdm_plan::sql::substitute(sql, &[("{old_type}", &self.old_type)])
    }

    /// What is carried, in words, for the step report.
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.not_null {
            parts.push("NOT NULL".to_owned());
        }
        if let Some(default) = &self.new_default {
            parts.push(format!("DEFAULT {default}"));
        }
        for object in &self.objects {
            parts.push(format!("{} {}", object.kind.name(), object.name));
        }
        if self.comment.is_some() {
            parts.push("the comment".to_owned());
        }
        if parts.is_empty() {
            "nothing to carry besides the values".to_owned()
        } else {
            format!("carries {}", parts.join(", "))
        }
    }
}

pub(crate) fn run(runner: &mut Runner, context: &StepContext, carry: &'static Carry) -> Result<Outcome> {
    match &carry.work {
        CarryWork::Inspect {
            ty,
            default,
            converts,
            up,
            down,
        } => inspect(
            runner,
            context,
            carry,
            &Declared {
                ty: ty.as_deref(),
                default: default.as_deref(),
                converts: *converts,
                up: up.as_deref(),
                down: down.as_deref(),
            },
        ),
        CarryWork::Forget => {
            let retries = runner.in_transaction(context, |transaction| {
                if has_record_tables(transaction)? {
                    transaction.execute(
                        "DELETE FROM zdm.carried_columns WHERE migration = $1",
                        &[&context.plan.id],
                    )?;
                }
                Ok(())
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::RestoreInPlace => match load(runner.client(), context)? {
            Some(record) => copy_work(runner, context, carry, &CarryWork::RestoreInPlace, &record),
            // A refused expand recorded nothing and changed nothing.
            None => {
                advance(runner, context)?;
                Ok(Outcome::done(0).noted("nothing to restore: expand recorded nothing"))
            }
        },
        CarryWork::DropColumn => {
            // Only a column this migration added: a failed expand may have stopped on a
            // column of that name that was already there.
            let added = load(runner.client(), context)?
                .is_some_and(|record| matches!(record.stage, Stage::Added | Stage::Unswapped));
            if !added {
                advance(runner, context)?;
                return Ok(Outcome::done(0).noted("nothing to drop: this migration added no column"));
            }
            let sql = format!(
                "ALTER TABLE {} DROP COLUMN IF EXISTS {}",
                carry.table,
                quote_ident(&carry.new_column)
            );
            let retries = runner.in_transaction(context, |transaction| {
                transaction.batch_execute(&sql)?;
                set_stage(transaction, context, Stage::Inspected)
            })?;
            Ok(Outcome::done(retries))
        }
        work => {
            let record = required(runner, context)?;
            if record.in_place && !matches!(work, CarryWork::AlterInPlace | CarryWork::RestoreInPlace) {
                advance(runner, context)?;
                return Ok(Outcome::done(0).noted("skipped: the type was changed in place"));
            }
            copy_work(runner, context, carry, work, &record)
        }
    }
}

fn copy_work(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    work: &CarryWork,
    record: &Record,
) -> Result<Outcome> {
    let table = &carry.table;
    match *work {
        CarryWork::CheckConvertible { ref conversion } => {
            check_convertible(runner, context, carry, record, conversion)
        }
        CarryWork::AddColumn => {
            let sql = format!(
                "ALTER TABLE {table} ADD COLUMN {} {}",
                quote_ident(&carry.new_column),
                record.column_definition(CarryTarget::New)
            );
            let retries = runner.in_transaction(context, |transaction| {
                transaction.batch_execute(&sql)?;
                set_stage(transaction, context, Stage::Added)
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::AlterInPlace => {
            if !record.in_place {
                advance(runner, context)?;
                return Ok(Outcome::done(0).noted(format!(
                    "skipped: {} → {} needs a copy",
                    record.old_type, record.new_type
                )));
            }
            let column = quote_ident(&carry.column);
            let mut statements = vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
                record.column_definition(CarryTarget::New)
            )];
            if let Some(default) = &record.new_default {
                statements.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"
                ));
            }
            let retries = runner.in_transaction(context, |transaction| {
                for statement in &statements {
                    transaction.batch_execute(statement)?;
                }
                set_stage(transaction, context, Stage::Altered)
            })?;
            Ok(Outcome::done(retries).noted(format!(
                "in place: {} → {} is binary-coercible and rebuilds no index, so only the catalog changes; \
                 sync, backfill and contract have nothing to do",
                record.old_type, record.new_type
            )))
        }
        CarryWork::RestoreInPlace => {
            if !record.in_place || record.stage != Stage::Altered {
                advance(runner, context)?;
                return Ok(Outcome::done(0).noted("nothing to restore: the type was not changed in place"));
            }
            let column = quote_ident(&carry.column);
            let mut statements = vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
                record.column_definition(CarryTarget::Original)
            )];
            statements.push(match &record.old_default {
                Some(default) => format!("ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"),
                None => format!("ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"),
            });
            let retries = runner.in_transaction(context, |transaction| {
                for statement in &statements {
                    transaction.batch_execute(statement)?;
                }
                set_stage(transaction, context, Stage::Inspected)
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::Transaction(ref statements) => {
            let statements: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
            let retries = runner.in_transaction(context, |transaction| {
                for statement in &statements {
                    transaction.batch_execute(statement)?;
                }
                Ok(())
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::Backfill {
            ref statements,
            refill,
        } => {
            if refill && record.stage != Stage::Unswapped {
                advance(runner, context)?;
                return Ok(Outcome::done(0).noted("nothing to refill: the old column was never dropped"));
            }
            let statements: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
            let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
            let outcome = backfill::run_statements(runner, context, table, &statements)?;
            Ok(Outcome {
                rows: outcome.rows,
                lock_retries: outcome.lock_retries,
                already_done: false,
                note: None,
            })
        }
        CarryWork::BuildIndexes(target) => build_indexes(runner, context, carry, record, target),
        CarryWork::DropIndexes => {
            let mut retries = 0;
            for object in record.objects.iter().filter(|object| object.kind.is_index()) {
                let sql = format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    quote_ident(&object.carried_name)
                );
                retries += runner.outside_transaction(context, &sql)?;
            }
            advance(runner, context)?;
            Ok(Outcome::done(retries))
        }
        CarryWork::CheckNulls(target) => {
            let column = target_column(carry, target);
            if !record.not_null || column_state(runner.client(), context, table, column)?.not_null {
                advance(runner, context)?;
                return Ok(Outcome::done(0));
            }
            let column_q = quote_ident(column);
            let count: i64 = runner
                .client()
                .query_one(
                    format!("SELECT count(*) FROM {table} WHERE {column_q} IS NULL").as_str(),
                    &[],
                )
                .map_err(|error| context.failed(error))?
                .get(0);
            if count > 0 {
                let samples = samples(
                    runner.client(),
                    context,
                    &format!("SELECT zdm_row::text FROM {table} AS zdm_row WHERE {column_q} IS NULL LIMIT 5"),
                )?;
                return Err(Error::Precondition {
                    migration: context.plan.id.to_string(),
                    phase: context.phase,
                    expectation: format!("no NULL in {table}.{column_q}, which the original column forbade"),
                    count,
                    samples,
                });
            }
            advance(runner, context)?;
            Ok(Outcome::done(0))
        }
        CarryWork::AddConstraints(target) => {
            let column = target_column(carry, target);
            let stand_in = not_null_stand_in(runner.client(), context, table, column)?;
            let column_q = quote_ident(column);
            let retries = runner.in_transaction(context, |transaction| {
                let existing = constraint_names(transaction, table)?;
                let not_null: bool = transaction
                    .query_one(
                        "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2",
                        &[&table, &column],
                    )?
                    .get(0);
                if record.not_null && !not_null && !existing.contains(&stand_in) {
                    transaction.batch_execute(&format!(
                        "ALTER TABLE {table} ADD CONSTRAINT {} CHECK ({column_q} IS NOT NULL) NOT VALID",
                        quote_ident(&stand_in)
                    ))?;
                }
                for object in &record.objects {
                    if matches!(object.kind, Kind::Check | Kind::ForeignKey)
                        && !existing.iter().any(|name| name == object.name_for(target))
                    {
                        transaction.batch_execute(&format!(
                            "ALTER TABLE {table} ADD CONSTRAINT {} {} NOT VALID",
                            quote_ident(object.name_for(target)),
                            object.definition_for(target)
                        ))?;
                    }
                }
                Ok(())
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::ValidateConstraints(target) => {
            let column = target_column(carry, target);
            let stand_in = not_null_stand_in(runner.client(), context, table, column)?;
            let mut names = vec![stand_in];
            names.extend(
                record
                    .objects
                    .iter()
                    .filter(|object| {
                        matches!(object.kind, Kind::Check | Kind::ForeignKey) && object.validated
                    })
                    .map(|object| object.name_for(target).to_owned()),
            );
            let mut retries = 0;
            for name in names {
                let pending: bool = runner
                    .client()
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_constraint \
                         WHERE conrelid = to_regclass($1) AND conname = $2 AND NOT convalidated)",
                        &[&table, &name],
                    )
                    .map_err(|error| context.failed(error))?
                    .get(0);
                if pending {
                    let sql = format!("ALTER TABLE {table} VALIDATE CONSTRAINT {}", quote_ident(&name));
                    retries += transaction(runner, context, |transaction| transaction.batch_execute(&sql))?;
                }
            }
            advance(runner, context)?;
            Ok(Outcome::done(retries))
        }
        CarryWork::SetNotNull(target) => {
            let column = target_column(carry, target);
            let stand_in = quote_ident(&not_null_stand_in(runner.client(), context, table, column)?);
            let column_q = quote_ident(column);
            let not_null = record.not_null;
            let retries = runner.in_transaction(context, |transaction| {
                if not_null {
                    transaction.batch_execute(&format!(
                        "ALTER TABLE {table} ALTER COLUMN {column_q} SET NOT NULL"
                    ))?;
                }
                transaction.batch_execute(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {stand_in}"
                ))
            })?;
            Ok(Outcome::done(retries))
        }
        CarryWork::Swap {
            ref statements,
            rename,
        } => swap(runner, context, carry, record, statements, rename),
        CarryWork::Unswap {
            ref statements,
            rename,
        } => unswap(runner, context, carry, record, statements, rename),
        CarryWork::Inspect { .. } | CarryWork::Forget | CarryWork::DropColumn => {
            unreachable!("handled by run")
        }
    }
}

fn target_column(carry: &'static Carry, target: CarryTarget) -> &'static str {
    match target {
        CarryTarget::New => &carry.new_column,
        CarryTarget::Original => &carry.column,
    }
}

/// Builds every carried index concurrently, dropping an INVALID leftover of a killed
/// build first; a UNIQUE constraint of the original column is attached to its index.
fn build_indexes(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    record: &Record,
    target: CarryTarget,
) -> Result<Outcome> {
    let table = &carry.table;
    let mut outcome = Outcome::done(0);
    let mut built = 0;
    for object in record.objects.iter().filter(|object| object.kind.is_index()) {
        let name = object.name_for(target);
        let exists_as_constraint = constraint_names_of(runner.client(), context, table)?
            .iter()
            .any(|existing| existing == name);
        if object.kind == Kind::Unique && target == CarryTarget::Original && exists_as_constraint {
            continue;
        }
        let sql = object.create_index(table, target, true);
        if !runner.create_index_concurrently(context, name, &sql)? {
            built += 1;
        }
        if object.kind == Kind::Unique && target == CarryTarget::Original {
            let sql = format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} UNIQUE USING INDEX {}{}",
                quote_ident(name),
                quote_ident(name),
                object.attributes
            );
            outcome.lock_retries +=
                transaction(runner, context, |transaction| transaction.batch_execute(&sql))?;
        }
    }
    advance(runner, context)?;
    outcome.already_done = built == 0 && record.objects.iter().any(|object| object.kind.is_index());
    Ok(outcome)
}

/// The contract's swap, in one transaction: the sync trigger goes, the old column goes
/// (and with it its indexes and constraints), the new one takes the final name, its
/// default, comment and statistics target, and the carried objects their original names.
fn swap(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    record: &Record,
    statements: &[zdm_plan::Text],
    rename: bool,
) -> Result<Outcome> {
    let table = &carry.table;
    let final_column: &str = if rename { &carry.column } else { &carry.new_column };
    let final_q = quote_ident(final_column);
    let mut sql: Vec<String> = statements.iter().map(|sql| record.substitute(sql)).collect();
    sql.push(format!(
        "ALTER TABLE {table} DROP COLUMN {}",
        quote_ident(&carry.column)
    ));
    if rename {
        sql.push(format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {final_q}",
            quote_ident(&carry.new_column)
        ));
    }
    if let Some(default) = &record.new_default {
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {final_q} SET DEFAULT {default}"
        ));
    }
    for object in &record.objects {
        let (carried, original) = (quote_ident(&object.carried_name), quote_ident(&object.name));
        sql.push(match object.kind {
            Kind::Index | Kind::UniqueIndex => format!("ALTER INDEX {carried} RENAME TO {original}"),
            Kind::Unique => format!(
                "ALTER TABLE {table} ADD CONSTRAINT {original} UNIQUE USING INDEX {carried}{}",
                object.attributes
            ),
            Kind::Check | Kind::ForeignKey => {
                format!("ALTER TABLE {table} RENAME CONSTRAINT {carried} TO {original}")
            }
        });
    }
    sql.extend(column_extras(table, &final_q, record));
    if record.stage == Stage::Swapped {
        advance(runner, context)?;
        return Ok(Outcome::done(0).noted("already swapped"));
    }
    // DROP COLUMN takes the column's indexes with it even without CASCADE: one created
    // after expand, which nothing carried, would be lost without a word.
    let unknown: Vec<String> = runner
        .client()
        .query(
            "SELECT DISTINCT coalesce(i.relname, k.conname)::text FROM pg_depend d \
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             LEFT JOIN pg_class i ON d.classid = 'pg_class'::regclass AND i.oid = d.objid AND i.relkind = 'i' \
             LEFT JOIN pg_constraint k ON d.classid = 'pg_constraint'::regclass AND k.oid = d.objid \
                 AND k.contype IN ('c', 'f', 'u', 'p', 'x') \
             WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) AND a.attname = $2 \
               AND coalesce(i.relname, k.conname) IS NOT NULL \
             ORDER BY 1",
            &[&table, &carry.column],
        )
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| !record.objects.iter().any(|object| &object.name == name))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Refused {
            migration: context.plan.id.to_string(),
            before: "the swap, which leaves the old column as it is".to_owned(),
            reason: format!(
                "{} depend on {}.{} but were created after expand, so nothing carried them, and dropping the \
                 column would drop them; drop them, or revert to before expand and run it again",
                unknown.iter().map(|name| display(name)).collect::<Vec<_>>().join(", "),
                table,
                quote_ident(&carry.column)
            ),
        });
    }
    let retries = runner.in_transaction(context, |transaction| {
        for statement in &sql {
            transaction.batch_execute(statement)?;
        }
        set_stage(transaction, context, Stage::Swapped)
    })?;
    Ok(Outcome::done(retries))
}

/// The comment and statistics target of the original column, set on `column_q`.
fn column_extras(table: &str, column_q: &str, record: &Record) -> Vec<String> {
    let mut sql = Vec::new();
    if let Some(comment) = &record.comment {
        sql.push(format!(
            "COMMENT ON COLUMN {table}.{column_q} IS {}",
            quote_literal(comment)
        ));
    }
    if let Some(statistics) = record.statistics {
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN {column_q} SET STATISTICS {statistics}"
        ));
    }
    sql
}

/// Reverts the contract from wherever it stopped. After the swap: the new column gets its
/// transition name back, loses what the contract gave it, the carried objects get their
/// generated names back (a UNIQUE constraint is dropped; its index is rebuilt by a later
/// step), the old column is re-added empty with its type, collation, default, comment and
/// statistics target, and the sync trigger is reinstalled; the next step refills it.
/// Before the swap: only the constraints the contract added to the new column go.
fn unswap(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    record: &Record,
    statements: &[zdm_plan::Text],
    rename: bool,
) -> Result<Outcome> {
    let table = &carry.table;
    let column_q = quote_ident(&carry.column);
    let new_q = quote_ident(&carry.new_column);
    let stand_in = quote_ident(&not_null_stand_in(
        runner.client(),
        context,
        table,
        &carry.new_column,
    )?);
    let mut sql = Vec::new();
    let stage = if record.stage == Stage::Swapped {
        if rename {
            sql.push(format!("ALTER TABLE {table} RENAME COLUMN {column_q} TO {new_q}"));
        }
        for object in &record.objects {
            let (carried, original) = (quote_ident(&object.carried_name), quote_ident(&object.name));
            sql.push(match object.kind {
                Kind::Index | Kind::UniqueIndex => {
                    format!("ALTER INDEX IF EXISTS {original} RENAME TO {carried}")
                }
                Kind::Unique | Kind::Check | Kind::ForeignKey => {
                    format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {original}")
                }
            });
        }
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP NOT NULL"));
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP DEFAULT"));
        sql.push(format!("COMMENT ON COLUMN {table}.{new_q} IS NULL"));
        if record.statistics.is_some() {
            sql.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {new_q} SET STATISTICS -1"
            ));
        }
        sql.push(format!(
            "ALTER TABLE {table} ADD COLUMN {column_q} {}",
            record.column_definition(CarryTarget::Original)
        ));
        if let Some(default) = &record.old_default {
            // Set after the column exists, so existing rows stay NULL (no rewrite, even
            // for a volatile default) until the refill writes them.
            sql.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {column_q} SET DEFAULT {default}"
            ));
        }
        sql.extend(column_extras(table, &column_q, record));
        sql.extend(statements.iter().map(|statement| record.substitute(statement)));
        Stage::Unswapped
    } else {
        for object in &record.objects {
            if matches!(object.kind, Kind::Check | Kind::ForeignKey) {
                sql.push(format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {}",
                    quote_ident(&object.carried_name)
                ));
            }
        }
        sql.push(format!(
            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {stand_in}"
        ));
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN {new_q} DROP NOT NULL"));
        Stage::Added
    };
    let retries = runner.in_transaction(context, |transaction| {
        for statement in &sql {
            transaction.batch_execute(statement)?;
        }
        set_stage(transaction, context, stage)
    })?;
    Ok(Outcome::done(retries))
}

/// Counts the rows whose value the `up` conversion cannot turn into the new type, with a
/// few of them, before anything is copied. The conversion runs in a function of the
/// runner's own session (`pg_temp`), once per row, catching the error of each.
fn check_convertible(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    record: &Record,
    conversion: &str,
) -> Result<Outcome> {
    let table = &carry.table;
    let column_q = quote_ident(&carry.column);
    let function = format!(
        "CREATE OR REPLACE FUNCTION pg_temp.zdm_convertible(anyelement) RETURNS boolean \
         LANGUAGE plpgsql AS {}",
        zdm_plan::sql::dollar_quote(&format!(
            "\nDECLARE converted {};\n\
             BEGIN\n  converted := {conversion};\n  RETURN true;\n\
             EXCEPTION WHEN OTHERS THEN\n  RETURN false;\nEND\n",
            record.new_type
        ))
    );
    let client = runner.client();
    client
        .batch_execute(&function)
        .map_err(|error| context.failed(error))?;
    let counted = client.query_one(
        format!("SELECT count(*) FROM {table} WHERE NOT pg_temp.zdm_convertible({column_q})").as_str(),
        &[],
    );
    let count: i64 = match counted {
        Ok(row) => row.get(0),
        Err(error) => {
            let _ = client.batch_execute("DROP FUNCTION IF EXISTS pg_temp.zdm_convertible(anyelement)");
            return Err(context.failed(error));
        }
    };
    let found = if count > 0 {
        samples(
            client,
            context,
            &format!(
                "SELECT zdm_row::text FROM {table} AS zdm_row \
                 WHERE NOT pg_temp.zdm_convertible(zdm_row.{column_q}) LIMIT 5"
            ),
        )
    } else {
        Ok(Vec::new())
    };
    let _ = client.batch_execute("DROP FUNCTION IF EXISTS pg_temp.zdm_convertible(anyelement)");
    let found = found?;
    if count > 0 {
        return Err(Error::Precondition {
            migration: context.plan.id.to_string(),
            phase: context.phase,
            expectation: format!(
                "every value of {table}.{column_q} convertible to {} by `up`",
                record.new_type
            ),
            count,
            samples: found,
        });
    }
    advance(runner, context)?;
    Ok(Outcome::done(0))
}

fn samples(client: &mut Client, context: &StepContext, sql: &str) -> Result<Vec<String>> {
    Ok(client
        .query(sql, &[])
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| {
            row.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".to_owned())
        })
        .collect())
}

/// Statements in one short transaction under the lock policy, without moving the step
/// counter: for steps made of several transactions, which advance once at the end.
fn transaction(
    runner: &mut Runner,
    context: &StepContext,
    mut work: impl FnMut(&mut Transaction<'_>) -> Result<(), postgres::Error>,
) -> Result<u32> {
    runner.with_lock_retries(context, |client, options| {
        let mut transaction = short_transaction(client, options)?;
        work(&mut transaction)?;
        transaction.commit()
    })
}

fn advance(runner: &mut Runner, context: &StepContext) -> Result<()> {
    state::advance(runner.client(), &context.plan.id, context.index)
}

fn set_stage(
    transaction: &mut Transaction<'_>,
    context: &StepContext,
    stage: Stage,
) -> Result<(), postgres::Error> {
    transaction
        .execute(
            "UPDATE zdm.carried_columns SET stage = $2 WHERE migration = $1",
            &[&context.plan.id, &stage.name()],
        )
        .map(drop)
}

struct ColumnState {
    not_null: bool,
}

fn column_state(
    client: &mut Client,
    context: &StepContext,
    table: &str,
    column: &str,
) -> Result<ColumnState> {
    let row = client
        .query_opt(
            "SELECT attnotnull FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped",
            &[&table, &column],
        )
        .map_err(|error| context.failed(error))?;
    Ok(ColumnState {
        not_null: row.is_some_and(|row| row.get(0)),
    })
}

/// The CHECK constraint that stands in for NOT NULL while it is validated; the same name
/// the macro gives its own (`<table>_<column>_not_null`).
fn not_null_stand_in(
    client: &mut Client,
    context: &StepContext,
    table: &str,
    column: &str,
) -> Result<String> {
    let relname: String = client
        .query_one(
            "SELECT relname::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .map_err(|error| context.failed(error))?
        .get(0);
    Ok(names::not_null_stand_in(&relname, column))
}

fn constraint_names(transaction: &mut Transaction<'_>, table: &str) -> Result<Vec<String>, postgres::Error> {
    Ok(transaction
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1)",
            &[&table],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

fn constraint_names_of(client: &mut Client, context: &StepContext, table: &str) -> Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1)",
            &[&table],
        )
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

fn has_record_tables(client: &mut impl postgres::GenericClient) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one("SELECT to_regclass('zdm.carried_columns') IS NOT NULL", &[])?
        .get(0))
}

fn load(client: &mut Client, context: &StepContext) -> Result<Option<Record>> {
    load_record(client, &context.plan.id).map_err(|error| context.failed(error))
}

fn required(runner: &mut Runner, context: &StepContext) -> Result<Record> {
    load(runner.client(), context)?.ok_or_else(|| Error::Refused {
        migration: context.plan.id.to_string(),
        before: "any change".to_owned(),
        reason: "zdm has no record of the column this migration carries (zdm.carried_columns); \
                 expand records it, so run expand first"
            .to_owned(),
    })
}

fn load_record(client: &mut Client, migration: &str) -> Result<Option<Record>, postgres::Error> {
    if !has_record_tables(client)? {
        return Ok(None);
    }
    let Some(row) = client.query_opt(
        "SELECT stage, in_place, old_type, new_type, old_collation, new_collation, old_default, new_default, \
                not_null, comment, statistics \
         FROM zdm.carried_columns WHERE migration = $1",
        &[&migration],
    )?
    else {
        return Ok(None);
    };
    let objects = client
        .query(
            "SELECT kind, name, carried_name, definition, carried_definition, validated, attributes \
             FROM zdm.carried_objects WHERE migration = $1 ORDER BY position",
            &[&migration],
        )?
        .iter()
        .map(|row| Object {
            kind: Kind::from_name(row.get(0)),
            name: row.get(1),
            carried_name: row.get(2),
            definition: row.get(3),
            carried_definition: row.get(4),
            validated: row.get(5),
            attributes: row.get(6),
        })
        .collect();
    Ok(Some(Record {
        stage: Stage::from_name(row.get(0)),
        in_place: row.get(1),
        old_type: row.get(2),
        new_type: row.get(3),
        old_collation: row.get(4),
        new_collation: row.get(5),
        old_default: row.get(6),
        new_default: row.get(7),
        not_null: row.get(8),
        comment: row.get(9),
        statistics: row.get(10),
        objects,
    }))
}

fn save_record(
    transaction: &mut Transaction<'_>,
    migration: &str,
    record: &Record,
) -> Result<(), postgres::Error> {
    transaction.batch_execute(SCHEMA)?;
    transaction.execute(
        "DELETE FROM zdm.carried_columns WHERE migration = $1",
        &[&migration],
    )?;
    transaction.execute(
        "INSERT INTO zdm.carried_columns (migration, stage, in_place, old_type, new_type, old_collation, \
             new_collation, old_default, new_default, not_null, comment, statistics) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &migration,
            &record.stage.name(),
            &record.in_place,
            &record.old_type,
            &record.new_type,
            &record.old_collation,
            &record.new_collation,
            &record.old_default,
            &record.new_default,
            &record.not_null,
            &record.comment,
            &record.statistics,
        ],
    )?;
    for (position, object) in record.objects.iter().enumerate() {
        transaction.execute(
            "INSERT INTO zdm.carried_objects (migration, position, kind, name, carried_name, definition, \
                 carried_definition, validated, attributes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &migration,
                &(position as i32),
                &object.kind.name(),
                &object.name,
                &object.carried_name,
                &object.definition,
                &object.carried_definition,
                &object.validated,
                &object.attributes,
            ],
        )?;
    }
    Ok(())
}

/// What the declaration says about the new column.
struct Declared {
    ty: Option<&'static str>,
    default: Option<&'static str>,
    converts: bool,
    up: Option<&'static str>,
    down: Option<&'static str>,
}

/// What [`examine`] found: the record to keep, or why not.
struct Findings {
    refusals: Vec<String>,
    record: Option<Record>,
}

fn inspect(
    runner: &mut Runner,
    context: &StepContext,
    carry: &'static Carry,
    declared: &Declared,
) -> Result<Outcome> {
    let mut findings = None;
    let retries = runner.with_lock_retries(context, |client, options| {
        let mut transaction = short_transaction(client, options)?;
        findings = Some(examine(&mut transaction, carry, declared)?);
        // The scratch tables of the checks go with the transaction.
        transaction.rollback()
    })?;
    let findings = findings.expect("with_lock_retries returned Ok after a successful attempt");
    let column = format!("{}.{}", carry.table, quote_ident(&carry.column));
    if !findings.refusals.is_empty() {
        let reasons: String = findings
            .refusals
            .iter()
            .map(|reason| format!("\n  - {reason}"))
            .collect();
        return Err(Error::Refused {
            migration: context.plan.id.to_string(),
            before: "any change".to_owned(),
            reason: format!(
                "{column} cannot be carried to {} safely:{reasons}",
                quote_ident(&carry.new_column)
            ),
        });
    }
    let record = findings
        .record
        .expect("examine returns a record when it has no refusal");
    let more = runner.in_transaction(context, |transaction| {
        save_record(transaction, &context.plan.id, &record)
    })?;
    let note = if record.in_place {
        format!(
            "{} → {} changes in place (binary-coercible, no index rebuilt); nothing to copy",
            record.old_type, record.new_type
        )
    } else if record.old_type != record.new_type {
        format!(
            "{} → {} by copy; {}",
            record.old_type,
            record.new_type,
            record.summary()
        )
    } else {
        record.summary()
    };
    Ok(Outcome::done(retries + more).noted(note))
}

/// Reads the column and everything that depends on it, and tries every carried
/// definition on scratch copies of the table; runs in a transaction the caller rolls back.
fn examine(
    transaction: &mut Transaction<'_>,
    carry: &'static Carry,
    declared: &Declared,
) -> Result<Findings, postgres::Error> {
    fn refused(refusals: Vec<String>) -> Result<Findings, postgres::Error> {
        Ok(Findings {
            refusals,
            record: None,
        })
    }
    let table = &carry.table;
    let mut refusals = Vec::new();

    let Some(relation) = transaction.query_opt(
        "SELECT c.oid, c.relkind::text, c.relnamespace, \
                EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid), \
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) \
         FROM pg_class c WHERE c.oid = to_regclass($1)",
        &[&table],
    )?
    else {
        return refused(vec![format!("there is no table {table}")]);
    };
    let relation_id: u32 = relation.get(0);
    let namespace: u32 = relation.get(2);
    match relation.get::<_, &str>(1) {
        "r" => {}
        "p" => refusals
            .push("the table is partitioned; zdm does not swap columns of partitioned tables".to_owned()),
        _ => return refused(vec![format!("{table} is not a table")]),
    }
    if relation.get::<_, bool>(3) {
        refusals.push(
            "the table takes part in inheritance; its parents or children would keep the old column"
                .to_owned(),
        );
    }
    if !relation.get::<_, bool>(4) {
        refusals.push("the table has no primary key, which the backfill paginates by".to_owned());
    }

    let Some(column) = transaction.query_opt(
        "SELECT a.attnum, format_type(a.atttypid, a.atttypmod), quote_ident(a.attname), \
                CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN \
                    (SELECT quote_ident(n.nspname) || '.' || quote_ident(l.collname) FROM pg_collation l \
                     JOIN pg_namespace n ON n.oid = l.collnamespace WHERE l.oid = a.attcollation) END, \
                pg_get_expr(d.adbin, d.adrelid), a.attnotnull, col_description(a.attrelid, a.attnum), \
                nullif(a.attstattarget::int, -1), a.attidentity::text, a.attgenerated::text, \
                a.attacl IS NOT NULL, quote_ident($3) \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        &[&relation_id, &carry.column, &carry.new_column],
    )?
    else {
        return refused(vec![format!(
            "{table} has no column {}",
            quote_ident(&carry.column)
        )]);
    };
    let attnum: i16 = column.get(0);
    let attnum_wide = i32::from(attnum);
    let old_type: String = column.get(1);
    let from_q: String = column.get(2);
    let old_collation: Option<String> = column.get(3);
    let old_default: Option<String> = column.get(4);
    let not_null: bool = column.get(5);
    let comment: Option<String> = column.get(6);
    let statistics: Option<i32> = column.get(7);
    let to_q: String = column.get(11);
    // Messages always quote the column, whatever PostgreSQL's quoting leaves bare.
    let label = quote_ident(&carry.column);
    if !column.get::<_, &str>(8).is_empty() {
        refusals.push(format!(
            "{label} is an identity column, whose sequence cannot move to another column"
        ));
    }
    if !column.get::<_, &str>(9).is_empty() {
        refusals.push(format!("{label} is a generated column"));
    }
    if column.get::<_, bool>(10) {
        refusals.push(format!(
            "{label} has column-level privileges (GRANT … ({label})), which zdm does not carry; \
             revoke them and grant them on the new column after contract"
        ));
    }

    // Everything that depends on the column, classified.
    let dependents = transaction.query(
        "SELECT DISTINCT d.classid::regclass::text, d.objid, pg_describe_object(d.classid, d.objid, 0) \
         FROM pg_depend d \
         WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.refobjsubid = $2 \
         ORDER BY 1, 3",
        &[&relation_id, &attnum_wide],
    )?;
    let mut found: Vec<(Kind, u32)> = Vec::new();
    for dependent in &dependents {
        let class: &str = dependent.get(0);
        let object: u32 = dependent.get(1);
        let description: String = dependent.get(2);
        match class {
            "pg_attrdef" => {
                let row = transaction.query_one(
                    "SELECT d.adnum, quote_ident(a.attname) FROM pg_attrdef d \
                     JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.oid = $1",
                    &[&object],
                )?;
                if row.get::<_, i16>(0) != attnum {
                    refusals.push(format!(
                        "the generated column {} is computed from {label}; drop it first and re-create it over \
                         the new column after contract",
                        row.get::<_, String>(1)
                    ));
                }
            }
            "pg_class" => {
                let row = transaction.query_one(
                    "SELECT c.relkind::text, quote_ident(c.relname), \
                            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid \
                                    AND k.conrelid = $2 AND k.contype IN ('p', 'u', 'x')) \
                     FROM pg_class c WHERE c.oid = $1",
                    &[&object, &relation_id],
                )?;
                let name: String = row.get(1);
                match (row.get::<_, &str>(0), row.get::<_, bool>(2)) {
                    // The index of a constraint comes with its constraint.
                    ("i", true) => {}
                    ("i", false) => {
                        let unique: bool = transaction
                            .query_one("SELECT indisunique FROM pg_index WHERE indexrelid = $1", &[&object])?
                            .get(0);
                        found.push((if unique { Kind::UniqueIndex } else { Kind::Index }, object));
                    }
                    ("S", _) => refusals.push(format!(
                        "the sequence {name} is owned by {label} (serial), and would be dropped with it"
                    )),
                    _ => refusals.push(format!("{description} depends on {label}")),
                }
            }
            "pg_constraint" => {
                let row = transaction.query_one(
                    "SELECT contype::text, quote_ident(conname), conrelid, conrelid::regclass::text, \
                            confrelid = $2 AND $3 = ANY (confkey), conrelid = $2 AND $3 = ANY (conkey) \
                     FROM pg_constraint WHERE oid = $1",
                    &[&object, &relation_id, &attnum],
                )?;
                let name: String = row.get(1);
                let on_table: String = row.get(3);
                let referenced: bool = row.get::<_, Option<bool>>(4).unwrap_or(false);
                let local: bool = row.get::<_, Option<bool>>(5).unwrap_or(false);
                match row.get::<_, &str>(0) {
                    "f" if referenced => refusals.push(format!(
                        "the foreign key {name} on {on_table} references {label}; drop it, and re-create it \
                         against the new column after contract"
                    )),
                    "f" if local => found.push((Kind::ForeignKey, object)),
                    "c" => found.push((Kind::Check, object)),
                    "u" => found.push((Kind::Unique, object)),
                    "p" => refusals.push(format!(
                        "{label} is part of the primary key {name}, which zdm cannot move without rewriting the \
                         table under ACCESS EXCLUSIVE"
                    )),
                    "x" => refusals.push(format!(
                        "the exclusion constraint {name} uses {label}; zdm does not carry exclusion constraints"
                    )),
                    // NOT NULL constraints (PostgreSQL 18+) are carried as `attnotnull`.
                    "n" => {}
                    _ => refusals.push(format!("{description} depends on {label}")),
                }
            }
            "pg_rewrite" => {
                let row = transaction.query_one(
                    "SELECT c.relkind::text, c.oid::regclass::text, quote_ident(r.rulename) \
                     FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = $1",
                    &[&object],
                )?;
                let (kind, name, rule): (&str, String, String) = (row.get(0), row.get(1), row.get(2));
                refusals.push(match kind {
                    "v" => format!(
                        "the view {name} uses {label}; a view cannot follow the swap, so drop it and \
                         re-create it over the new column after contract"
                    ),
                    "m" => format!(
                        "the materialized view {name} uses {label}; drop it and re-create it after contract"
                    ),
                    _ => format!("the rule {rule} on {name} uses {label}"),
                });
            }
            "pg_trigger" => refusals.push(format!(
                "{description} fires on {label} (UPDATE OF or WHEN); drop it and re-create it over the new column"
            )),
            _ => refusals.push(format!("{description} depends on {label}, and zdm cannot carry it")),
        }
    }

    // Definitions, rewritten for the new column.
    let mut objects = Vec::new();
    let mut sources = Vec::new();
    for (kind, object) in found {
        let (name, definition, validated, attributes, index) = match kind {
            Kind::Index | Kind::UniqueIndex => {
                let row = transaction.query_one(
                    "SELECT c.relname::text, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisreplident \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indexrelid = $1",
                    &[&object],
                )?;
                let name: String = row.get(0);
                if !row.get::<_, bool>(2) {
                    refusals.push(format!(
                        "the index {} is INVALID (a failed concurrent build); drop or rebuild it first",
                        display(&name)
                    ));
                }
                if row.get::<_, bool>(3) {
                    refusals.push(format!(
                        "the index {} is the table's replica identity; zdm does not move it",
                        display(&name)
                    ));
                }
                (name, index_tail(row.get(1)), true, String::new(), object)
            }
            Kind::Unique => {
                let row = transaction.query_one(
                    "SELECT k.conname::text, pg_get_indexdef(k.conindid), \
                            CASE WHEN k.condeferred THEN ' DEFERRABLE INITIALLY DEFERRED' \
                                 WHEN k.condeferrable THEN ' DEFERRABLE' ELSE '' END, \
                            k.conindid, i.indisreplident \
                     FROM pg_constraint k JOIN pg_index i ON i.indexrelid = k.conindid WHERE k.oid = $1",
                    &[&object],
                )?;
                let name: String = row.get(0);
                if row.get::<_, bool>(4) {
                    refusals.push(format!(
                        "the index of {} is the table's replica identity; zdm does not move it",
                        display(&name)
                    ));
                }
                (name, index_tail(row.get(1)), true, row.get(2), row.get(3))
            }
            Kind::Check | Kind::ForeignKey => {
                let row = transaction.query_one(
                    "SELECT conname::text, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE oid = $1",
                    &[&object],
                )?;
                let definition: String = row.get(1);
                let definition = definition
                    .strip_suffix(" NOT VALID")
                    .unwrap_or(&definition)
                    .to_owned();
                (row.get(0), Some(definition), row.get(2), String::new(), object)
            }
        };
        let Some(definition) = definition else {
            refusals.push(format!(
                "zdm cannot read the definition of the {} {}",
                kind.name(),
                display(&name)
            ));
            continue;
        };
        let carried_definition = match kind {
            Kind::ForeignKey => substitute_foreign_key(&definition, &from_q, &to_q),
            _ => Some(substitute(&definition, &from_q, &to_q)),
        };
        let Some(carried_definition) = carried_definition else {
            refusals.push(format!(
                "zdm cannot rewrite the {} {} ({definition}) for the new column",
                kind.name(),
                display(&name)
            ));
            continue;
        };
        let carried_name = names::carried(&name);
        let taken: bool = if kind.is_index() {
            transaction
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = $2) \
                        OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $3)",
                    &[&carried_name, &namespace, &relation_id],
                )?
                .get(0)
        } else {
            transaction
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $2)",
                    &[&carried_name, &relation_id],
                )?
                .get(0)
        };
        if taken {
            refusals.push(format!(
                "the name {} for the copy of the {} {} is taken",
                display(&carried_name),
                kind.name(),
                display(&name)
            ));
        }
        sources.push((kind, index, object));
        objects.push(Object {
            kind,
            name,
            carried_name,
            definition,
            carried_definition,
            validated,
            attributes,
        });
    }
    if !refusals.is_empty() {
        return refused(refusals);
    }

    // The scratch copy: the table's columns, plus the new column.
    transaction.batch_execute(&format!("CREATE TEMP TABLE zdm_probe (LIKE {table})"))?;
    let new_type = declared.ty.unwrap_or(&old_type);
    let added = attempt(
        transaction,
        &format!("ALTER TABLE pg_temp.zdm_probe ADD COLUMN {to_q} {new_type}"),
    )?;
    if let Err(message) = added {
        return refused(vec![format!("the type {new_type} does not work: {message}")]);
    }
    let probe = transaction.query_one(
        "SELECT format_type(a.atttypid, a.atttypmod), t.typcollation <> 0, 'pg_temp.zdm_probe'::regclass::oid \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = 'pg_temp.zdm_probe'::regclass AND a.attname = $1",
        &[&carry.new_column],
    )?;
    let new_type: String = probe.get(0);
    let probe_id: u32 = probe.get(2);
    let new_collation = if probe.get::<_, bool>(1) {
        old_collation.clone()
    } else {
        None
    };
    if let Some(collation) = &new_collation {
        transaction.batch_execute(&format!(
            "ALTER TABLE pg_temp.zdm_probe ALTER COLUMN {to_q} TYPE {new_type} COLLATE {collation}"
        ))?;
    }
    if declared.ty.is_some() && new_type == old_type && new_collation == old_collation {
        return refused(vec![format!(
            "{} already has the type {old_type}; there is nothing to change",
            quote_ident(&carry.column)
        )]);
    }

    let new_default = match (declared.default, &old_default) {
        (Some(default), _) => Some(default.to_owned()),
        (None, None) => None,
        (None, Some(default)) if declared.ty.is_none() => Some(default.clone()),
        (None, Some(default)) => {
            // A constant is converted once, with the declared `up`, into a literal of the
            // new type; an expression (`now()`, `nextval(…)`) can only be cast.
            if !default.contains('(') {
                let up = declared.up.unwrap_or("NULL");
                let converted = attempt_query(
                    transaction,
                    &format!(
                        "SELECT quote_literal(({up})::{new_type}::text) \
                         FROM (SELECT ({default})::{old_type} AS {from_q}) AS zdm_default"
                    ),
                )?;
                match converted {
                    Ok(Some(literal)) => Some(format!("{literal}::{new_type}")),
                    Ok(None) => None,
                    Err(message) => {
                        return refused(vec![format!(
                            "the default {default} of {} cannot be converted to {new_type}: {message}; \
                             declare the new default with `default = \"…\"`",
                            quote_ident(&carry.column)
                        )])
                    }
                }
            } else if declared.converts {
                return refused(vec![format!(
                    "{} has the default {default}, and with `up` declared zdm cannot tell what it becomes \
                     in {new_type}; declare it with `default = \"…\"`",
                    quote_ident(&carry.column)
                )]);
            } else {
                Some(format!("({default})::{new_type}"))
            }
        }
    };
    // The default and the conversions, each tried on the scratch copy.
    let probes = [
        new_default.as_ref().map(|default| {
            (
                format!("ALTER TABLE pg_temp.zdm_probe ALTER COLUMN {to_q} SET DEFAULT {default}"),
                format!("the default {default} does not work for {new_type}"),
            )
        }),
        declared.up.map(|up| {
            (
                format!("UPDATE pg_temp.zdm_probe SET {to_q} = {up}"),
                format!("the `up` conversion to {new_type} does not work"),
            )
        }),
        declared.down.map(|down| {
            let down = zdm_plan::sql::substitute(down, &[("{old_type}", &old_type)]);
            (
                format!("UPDATE pg_temp.zdm_probe SET {from_q} = {down}"),
                format!("the `down` conversion back to {old_type} does not work"),
            )
        }),
    ];
    for (sql, what) in probes.into_iter().flatten() {
        if let Err(message) = attempt(transaction, &sql)? {
            refusals.push(format!("{what}: {message}"));
        }
    }

    // Every carried definition, built on the scratch copy: it must be accepted for the new
    // column's type, and refer to the same columns as the original with ours substituted.
    for (position, (object, (kind, source_index, source))) in objects.iter().zip(&sources).enumerate() {
        let scratch = format!("zdm_probe_{position}");
        let built = match kind {
            Kind::Index | Kind::UniqueIndex | Kind::Unique => {
                let unique = if *kind == Kind::Index { "" } else { "UNIQUE " };
                attempt(
                    transaction,
                    &format!(
                        "CREATE {unique}INDEX {scratch} ON pg_temp.zdm_probe {}",
                        object.carried_definition
                    ),
                )?
            }
            Kind::Check => attempt(
                transaction,
                &format!(
                    "ALTER TABLE pg_temp.zdm_probe ADD CONSTRAINT {scratch} {} NOT VALID",
                    object.carried_definition
                ),
            )?,
            Kind::ForeignKey => {
                let referenced: String = transaction
                    .query_one(
                        "SELECT confrelid::regclass::text FROM pg_constraint WHERE oid = $1",
                        &[source],
                    )?
                    .get(0);
                transaction.batch_execute(&format!(
                    "CREATE TEMP TABLE zdm_probe_ref_{position} (LIKE {referenced} INCLUDING INDEXES)"
                ))?;
                match retarget_foreign_key(
                    &object.carried_definition,
                    &format!("pg_temp.zdm_probe_ref_{position}"),
                ) {
                    Some(definition) => attempt(
                        transaction,
                        &format!(
                            "ALTER TABLE pg_temp.zdm_probe ADD CONSTRAINT {scratch} {definition} NOT VALID"
                        ),
                    )?,
                    None => Err("its definition could not be read".to_owned()),
                }
            }
        };
        let label = format!("the {} {}", kind.name(), display(&object.name));
        if let Err(message) = built {
            refusals.push(format!("{label} cannot be carried to {new_type}: {message}"));
            continue;
        }
        let (class, original) = if kind.is_index() {
            ("pg_class", *source_index)
        } else {
            ("pg_constraint", *source)
        };
        let mut expected = referenced_columns(transaction, class, original, relation_id)?
            .into_iter()
            .map(|name| {
                if name == carry.column {
                    carry.new_column.to_string()
                } else {
                    name
                }
            })
            .collect::<Vec<_>>();
        expected.sort();
        let copy: u32 = if kind.is_index() {
            transaction
                .query_one(&format!("SELECT 'pg_temp.{scratch}'::regclass::oid"), &[])?
                .get(0)
        } else {
            transaction
                .query_one(
                    "SELECT oid FROM pg_constraint WHERE conrelid = $1 AND conname = $2",
                    &[&probe_id, &scratch],
                )?
                .get(0)
        };
        let mut actual = referenced_columns(transaction, class, copy, probe_id)?;
        actual.sort();
        if actual != expected {
            refusals.push(format!(
                "zdm could not rewrite {label} ({}) for the new column (its copy uses {} instead of {}); \
                 drop it before the migration and re-create it after contract",
                object.definition,
                actual.join(", "),
                expected.join(", ")
            ));
        }
    }
    if !refusals.is_empty() {
        return refused(refusals);
    }

    let in_place = declared.ty.is_some()
        && !declared.converts
        && changes_in_place(transaction, carry, &objects, &new_type, &new_collation)?;
    let record = Record {
        stage: Stage::Inspected,
        in_place,
        old_type,
        new_type,
        old_collation,
        new_collation,
        old_default,
        new_default: if in_place {
            declared.default.map(str::to_owned)
        } else {
            new_default
        },
        not_null,
        comment,
        statistics,
        objects,
    };
    Ok(Findings {
        refusals,
        record: Some(record),
    })
}

/// Whether `ALTER COLUMN … TYPE` would change only the catalog: tried on an empty copy of
/// the table with the column's indexes, it must keep the table's and every index's file
/// (a rewrite or an index rebuild gives a new one). A CHECK constraint or a FOREIGN KEY on
/// the column is re-validated by a scan under ACCESS EXCLUSIVE even without a rewrite, so
/// either means a copy.
fn changes_in_place(
    transaction: &mut Transaction<'_>,
    carry: &'static Carry,
    objects: &[Object],
    new_type: &str,
    new_collation: &Option<String>,
) -> Result<bool, postgres::Error> {
    if objects
        .iter()
        .any(|object| matches!(object.kind, Kind::Check | Kind::ForeignKey))
    {
        return Ok(false);
    }
    transaction.batch_execute(&format!("CREATE TEMP TABLE zdm_in_place (LIKE {})", carry.table))?;
    for (position, object) in objects.iter().enumerate() {
        let unique = if object.kind == Kind::Index { "" } else { "UNIQUE " };
        let built = attempt(
            transaction,
            &format!(
                "CREATE {unique}INDEX zdm_in_place_{position} ON pg_temp.zdm_in_place {}",
                object.definition
            ),
        )?;
        if built.is_err() {
            return Ok(false);
        }
    }
    let files = "SELECT array_agg(pg_relation_filenode(c.oid)::int8 ORDER BY c.oid) FROM pg_class c \
                 WHERE c.oid = 'pg_temp.zdm_in_place'::regclass \
                    OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'pg_temp.zdm_in_place'::regclass)";
    let before: Vec<i64> = transaction.query_one(files, &[])?.get(0);
    let collate = new_collation
        .as_ref()
        .map(|collation| format!(" COLLATE {collation}"))
        .unwrap_or_default();
    let altered = attempt(
        transaction,
        &format!(
            "ALTER TABLE pg_temp.zdm_in_place ALTER COLUMN {} TYPE {new_type}{collate}",
            quote_ident(&carry.column)
        ),
    )?;
    if altered.is_err() {
        return Ok(false);
    }
    let after: Vec<i64> = transaction.query_one(files, &[])?.get(0);
    Ok(before == after)
}

/// The names of the columns of `relation` an index (`pg_class`) or a constraint
/// (`pg_constraint`) refers to: key and INCLUDE columns, and those in expressions and
/// predicates; a foreign key's own columns, not those it references.
fn referenced_columns(
    transaction: &mut Transaction<'_>,
    class: &str,
    object: u32,
    relation: u32,
) -> Result<Vec<String>, postgres::Error> {
    let sql = if class == "pg_class" {
        "SELECT coalesce(array_agg(DISTINCT a.attname::text), '{}') FROM pg_attribute a \
         WHERE a.attrelid = $2 AND a.attnum > 0 AND ( \
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = $1 AND a.attnum = ANY (i.indkey::int2[])) \
             OR a.attnum IN (SELECT d.refobjsubid FROM pg_depend d \
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = $1 AND d.refobjid = $2))"
    } else {
        "SELECT coalesce(array_agg(DISTINCT a.attname::text), '{}') FROM pg_attribute a \
         WHERE a.attrelid = $2 AND a.attnum > 0 \
           AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.oid = $1 AND a.attnum = ANY (k.conkey))"
    };
    Ok(transaction.query_one(sql, &[&object, &relation])?.get(0))
}

/// A name as PostgreSQL prints it in messages (`regclass`): bare when it can be, quoted
/// otherwise.
fn display(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_owned()
    } else {
        quote_ident(name)
    }
}

/// Runs `sql` in a savepoint: `Ok(Err(message))` when the server refuses it, so the caller
/// can say what cannot be carried; a lock timeout is passed up to be retried.
fn attempt(transaction: &mut Transaction<'_>, sql: &str) -> Result<Result<(), String>, postgres::Error> {
    let mut savepoint = transaction.transaction()?;
    match savepoint.batch_execute(sql) {
        Ok(()) => {
            savepoint.commit()?;
            Ok(Ok(()))
        }
        Err(error) if Error::is_lock_timeout(&error) || error.as_db_error().is_none() => Err(error),
        Err(error) => {
            savepoint.rollback()?;
            Ok(Err(describe(&error)))
        }
    }
}

/// [`attempt`] for a query of one optional text value.
fn attempt_query(
    transaction: &mut Transaction<'_>,
    sql: &str,
) -> Result<Result<Option<String>, String>, postgres::Error> {
    let mut savepoint = transaction.transaction()?;
    match savepoint.query_one(sql, &[]) {
        Ok(row) => {
            let value = row.get(0);
            savepoint.commit()?;
            Ok(Ok(value))
        }
        Err(error) if Error::is_lock_timeout(&error) || error.as_db_error().is_none() => Err(error),
        Err(error) => {
            savepoint.rollback()?;
            Ok(Err(describe(&error)))
        }
    }
}

/// One lexical token of the SQL that `pg_get_indexdef` / `pg_get_constraintdef` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Space(&'a str),
    /// A bare identifier or keyword (keywords are printed in upper case).
    Word(&'a str),
    /// A double-quoted identifier, quotes included.
    Quoted(&'a str),
    /// A string literal, quotes (and an `E` prefix) included.
    Literal(&'a str),
    /// Numbers, operators and punctuation; `::` and `=>` are one token each.
    Other(&'a str),
}

impl<'a> Token<'a> {
    fn text(self) -> &'a str {
        match self {
            Token::Space(text)
            | Token::Word(text)
            | Token::Quoted(text)
            | Token::Literal(text)
            | Token::Other(text) => text,
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let quoted_end = |start: usize, quote: u8, backslashes: bool| -> usize {
        let mut j = start + 1;
        while j < bytes.len() {
            if backslashes && bytes[j] == b'\\' {
                j += 2;
                continue;
            }
            if bytes[j] == quote {
                if bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    let is_word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80;
    while i < bytes.len() {
        let byte = bytes[i];
        let start = i;
        let token = if byte.is_ascii_whitespace() {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            Token::Space(&sql[start..i])
        } else if matches!(byte, b'E' | b'e') && bytes.get(i + 1) == Some(&b'\'') {
            i = quoted_end(i + 1, b'\'', true);
            Token::Literal(&sql[start..i])
        } else if byte == b'\'' {
            i = quoted_end(i, b'\'', false);
            Token::Literal(&sql[start..i])
        } else if byte == b'"' {
            i = quoted_end(i, b'"', false);
            Token::Quoted(&sql[start..i])
        } else if byte.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            Token::Other(&sql[start..i])
        } else if is_word(byte) {
            while i < bytes.len() && is_word(bytes[i]) {
                i += 1;
            }
            Token::Word(&sql[start..i])
        } else if sql[i..].starts_with("::") || sql[i..].starts_with("=>") {
            i += 2;
            Token::Other(&sql[start..i])
        } else {
            i += sql[i..].chars().next().map_or(1, char::len_utf8);
            Token::Other(&sql[start..i])
        };
        tokens.push(token);
    }
    tokens
}

/// Replaces references to the column `from` (as PostgreSQL quotes it) with `to` in a
/// definition printed by PostgreSQL. Names that are not column references are left
/// alone: qualified names and fields (after `.`), function names (before `(`), named
/// arguments (before `=>`), type names (after `::`), collations and access methods (after
/// `COLLATE`, `USING`), operator classes (after an expression). Inspect checks the result
/// on a scratch table, so a definition this misreads is refused, never carried wrong.
fn substitute(sql: &str, from: &str, to: &str) -> String {
    let tokens = tokenize(sql);
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&index| !matches!(tokens[index], Token::Space(_)))
        .collect();
    let mut in_type = false;
    let mut type_depth = 0;
    let mut skip = vec![false; tokens.len()];
    for (position, &index) in significant.iter().enumerate() {
        let token = tokens[index];
        let previous = position.checked_sub(1).map(|p| tokens[significant[p]]);
        if in_type {
            match token {
                Token::Other("(") => type_depth += 1,
                Token::Other(")") if type_depth > 0 => type_depth -= 1,
                _ if type_depth > 0 => {}
                Token::Word(word) if word.bytes().any(|byte| byte.is_ascii_lowercase()) => {}
                Token::Quoted(_) | Token::Other(".") | Token::Other("[") | Token::Other("]") => {}
                _ => in_type = false,
            }
            if in_type {
                skip[index] = true;
                continue;
            }
        }
        if token == Token::Other("::") {
            in_type = true;
            type_depth = 0;
            continue;
        }
        let next = significant.get(position + 1).map(|&n| tokens[n]);
        let blocked = match previous {
            Some(Token::Other(".")) | Some(Token::Quoted(_)) | Some(Token::Other(")")) => true,
            Some(Token::Word(word)) => {
                word.bytes().any(|byte| byte.is_ascii_lowercase())
                    || word.eq_ignore_ascii_case("COLLATE")
                    || word.eq_ignore_ascii_case("USING")
            }
            _ => false,
        } || matches!(
            next,
            Some(Token::Other("(")) | Some(Token::Other("=>")) | Some(Token::Other("."))
        );
        skip[index] = blocked;
    }
    tokens
        .iter()
        .zip(&skip)
        .map(|(token, skip)| match token {
            Token::Word(text) | Token::Quoted(text) if !skip && *text == from => to,
            other => other.text(),
        })
        .collect()
}

/// The `USING …` part of an index definition, after `ON <table>`.
fn index_tail(definition: Option<String>) -> Option<String> {
    let definition = definition?;
    let tokens = tokenize(&definition);
    let mut offset = 0;
    for token in &tokens {
        if *token == Token::Word("USING") {
            return Some(definition[offset..].to_owned());
        }
        offset += token.text().len();
    }
    None
}

/// A foreign key's definition split around `REFERENCES`: `(own columns…)`,
/// the referenced table, and the rest from the referenced columns on.
fn split_foreign_key(definition: &str) -> Option<(String, String, String)> {
    let tokens = tokenize(definition);
    let references = tokens
        .iter()
        .position(|token| *token == Token::Word("REFERENCES"))?;
    let open = references
        + tokens[references..]
            .iter()
            .position(|token| *token == Token::Other("("))?;
    let text =
        |range: std::ops::Range<usize>| tokens[range].iter().map(|token| token.text()).collect::<String>();
    Some((
        text(0..references),
        text(references + 1..open).trim().to_owned(),
        text(open..tokens.len()),
    ))
}

/// A foreign key with its own columns substituted (and those of `ON DELETE SET NULL (…)`),
/// the referenced table and columns untouched.
fn substitute_foreign_key(definition: &str, from: &str, to: &str) -> Option<String> {
    let (own, target, rest) = split_foreign_key(definition)?;
    let tokens = tokenize(&rest);
    let mut depth = 0;
    let mut end = 0;
    for token in &tokens {
        end += token.text().len();
        match token {
            Token::Other("(") => depth += 1,
            Token::Other(")") => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    Some(format!(
        "{}REFERENCES {target}{}{}",
        substitute(&own, from, to),
        &rest[..end],
        substitute(&rest[end..], from, to)
    ))
}

/// The foreign key pointed at another table (a scratch copy of the referenced one).
fn retarget_foreign_key(definition: &str, table: &str) -> Option<String> {
    let (own, _, rest) = split_foreign_key(definition)?;
    Some(format!("{own}REFERENCES {table}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_references_are_substituted_and_nothing_else() {
        assert_eq!(
            substitute("CHECK ((name <> ''::text))", "name", "\"full_name\""),
            "CHECK ((\"full_name\" <> ''::text))"
        );
        // A cast to the type `name`, a function `name(…)`, a string and a field stay.
        assert_eq!(
            substitute(
                "CHECK (((name)::name <> name('name'::text)) AND ((t.name) > 'x') AND (name IS NOT NULL))",
                "name",
                "n2"
            ),
            "CHECK (((n2)::name <> name('name'::text)) AND ((t.name) > 'x') AND (n2 IS NOT NULL))"
        );
        assert_eq!(
            substitute(
                "USING btree (lower(name) text_pattern_ops DESC NULLS LAST, id) INCLUDE (name) \
                 WHERE ((((name)::character varying(10))::text <> 'a'::text) AND (name = 'b'::text))",
                "name",
                "\"n\""
            ),
            "USING btree (lower(\"n\") text_pattern_ops DESC NULLS LAST, id) INCLUDE (\"n\") \
             WHERE ((((\"n\")::character varying(10))::text <> 'a'::text) AND (\"n\" = 'b'::text))"
        );
        assert_eq!(
            substitute("CHECK ((\"Weird col\" <> E'it\\'s name'))", "\"Weird col\"", "x"),
            "CHECK ((x <> E'it\\'s name'))"
        );
        assert_eq!(
            substitute("USING btree (\"C\" COLLATE \"C\")", "\"C\"", "c2"),
            "USING btree (c2 COLLATE \"C\")"
        );
        assert_eq!(
            substitute("CHECK ((f(x => code) > 0))", "x", "y"),
            "CHECK ((f(x => code) > 0))"
        );
    }

    #[test]
    fn foreign_keys_keep_the_referenced_columns() {
        assert_eq!(
            substitute_foreign_key(
                "FOREIGN KEY (code, id) REFERENCES parents(code, id) ON DELETE SET NULL (code) DEFERRABLE",
                "code",
                "new_code"
            )
            .unwrap(),
            "FOREIGN KEY (new_code, id) REFERENCES parents(code, id) ON DELETE SET NULL (new_code) DEFERRABLE"
        );
        assert_eq!(
            retarget_foreign_key("FOREIGN KEY (a) REFERENCES public.p(a) MATCH FULL", "pg_temp.x").unwrap(),
            "FOREIGN KEY (a) REFERENCES pg_temp.x(a) MATCH FULL"
        );
        assert_eq!(substitute_foreign_key("CHECK (a > 0)", "a", "b"), None);
    }

    #[test]
    fn index_definitions_are_cut_after_the_table() {
        assert_eq!(
            index_tail(Some(
                "CREATE UNIQUE INDEX \"a USING b\" ON public.t USING btree (x) NULLS NOT DISTINCT".to_owned()
            ))
            .as_deref(),
            Some("USING btree (x) NULLS NOT DISTINCT")
        );
        assert_eq!(index_tail(None), None);
    }
}
