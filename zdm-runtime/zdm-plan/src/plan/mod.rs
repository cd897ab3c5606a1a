//! The plan of one schema change as inspectable data: its phases, the steps of each phase
//! and of each reversal, the SQL of every step and the lock it takes.
//!
//! `#[zero_downtime]` computes all of it at compile time and emits it as a `static`, so a
//! plan can be printed, reviewed and checksummed without a database.

use std::fmt;

mod build;
mod render;
mod version;

pub use version::{Presented, PresentedColumn};

use crate::sql::quote_ident;
use crate::{List, Text};

/// The four phases of a zero-downtime change, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Additive changes that old application versions do not notice.
    Expand,
    /// Triggers that keep the old and the new shape in step while both are written.
    Sync,
    /// Batched copy of existing rows into the new shape.
    Backfill,
    /// Removal of the old shape and enforcement of constraints, once no old version runs.
    Contract,
}

impl Phase {
    /// Every phase, in execution order.
    pub const ALL: [Phase; 4] = [Phase::Expand, Phase::Sync, Phase::Backfill, Phase::Contract];

    /// The name used in the state table, the CLI and messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Sync => "sync",
            Phase::Backfill => "backfill",
            Phase::Contract => "contract",
        }
    }

    /// Parses a phase name as printed by [`Phase::name`].
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|phase| phase.name() == name)
    }

    /// The phase that must have completed before this one may run.
    pub fn previous(self) -> Option<Phase> {
        match self {
            Phase::Expand => None,
            Phase::Sync => Some(Phase::Expand),
            Phase::Backfill => Some(Phase::Sync),
            Phase::Contract => Some(Phase::Backfill),
        }
    }

    /// The phase that runs after this one.
    pub fn next(self) -> Option<Phase> {
        match self {
            Phase::Expand => Some(Phase::Sync),
            Phase::Sync => Some(Phase::Backfill),
            Phase::Backfill => Some(Phase::Contract),
            Phase::Contract => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The table-level lock a step acquires, strongest first in severity for the application.
///
/// Shown by plans so a reviewer sees which steps can block reads and writes; the runner
/// bounds every wait for it with `lock_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Takes no table lock (catalog reads, checks on the data under MVCC).
    None,
    /// `ACCESS SHARE`: what a plain `SELECT` takes; blocks only `ACCESS EXCLUSIVE`.
    AccessShare,
    /// `ROW SHARE`: `SELECT … FOR UPDATE`; blocks only `EXCLUSIVE` and `ACCESS EXCLUSIVE`.
    RowShare,
    /// `ROW EXCLUSIVE`: what `UPDATE`/`INSERT` take; short per batch.
    RowExclusive,
    /// `SHARE UPDATE EXCLUSIVE`: `VALIDATE CONSTRAINT`, `CREATE INDEX CONCURRENTLY`; reads
    /// and writes go on.
    ShareUpdateExclusive,
    /// `SHARE`: a plain `CREATE INDEX`; blocks writes for as long as it runs.
    Share,
    /// `SHARE ROW EXCLUSIVE`: `CREATE TRIGGER`, `ADD FOREIGN KEY`; blocks writes briefly.
    ShareRowExclusive,
    /// `EXCLUSIVE`: `REFRESH MATERIALIZED VIEW CONCURRENTLY`; blocks writes, not reads.
    Exclusive,
    /// `ACCESS EXCLUSIVE`: most `ALTER TABLE` forms; blocks everything, so only for
    /// catalog-only changes that finish in milliseconds.
    AccessExclusive,
}

impl Lock {
    /// Every lock, weakest first.
    pub const ALL: [Lock; 9] = [
        Lock::None,
        Lock::AccessShare,
        Lock::RowShare,
        Lock::RowExclusive,
        Lock::ShareUpdateExclusive,
        Lock::Share,
        Lock::ShareRowExclusive,
        Lock::Exclusive,
        Lock::AccessExclusive,
    ];

    /// The lock's name as PostgreSQL's manual spells it.
    pub fn name(self) -> &'static str {
        match self {
            Lock::None => "no table lock",
            Lock::AccessShare => "ACCESS SHARE",
            Lock::RowShare => "ROW SHARE",
            Lock::RowExclusive => "ROW EXCLUSIVE",
            Lock::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Lock::Share => "SHARE",
            Lock::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Lock::Exclusive => "EXCLUSIVE",
            Lock::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Statements run together in one short transaction under `lock_timeout`, together
    /// with the update of the migration's state row.
    Transaction(List<Text>),
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY`, run outside any transaction. An INVALID index
    /// of the same name, left by a build that failed or was killed, is dropped first; a
    /// valid one means the step already ran.
    CreateIndexConcurrently {
        /// The index, as written in SQL (quoted; qualified when the declaration names its
        /// table's schema).
        index: Text,
        /// The complete `CREATE INDEX CONCURRENTLY` statement.
        sql: Text,
    },
    /// [`Action::CreateIndexConcurrently`] of a statement the database composes when the
    /// step runs, from what an earlier phase recorded (an index's definition, say): `query`
    /// returns the `CREATE [UNIQUE] INDEX CONCURRENTLY` statement, or no row when there is
    /// nothing to build. An INVALID leftover of `index` is dropped first, as there.
    CreateIndexConcurrentlyFromQuery {
        /// The index, as written in SQL (quoted; qualified when the declaration names its
        /// table's schema).
        index: Text,
        /// One row, one text column: the statement. `{state}` stands for the state schema.
        query: Text,
    },
    /// `DROP INDEX CONCURRENTLY IF EXISTS`, run outside any transaction.
    DropIndexConcurrently {
        /// The index, as written in SQL (quoted; qualified when the declaration names its
        /// table's schema).
        index: Text,
        /// The complete statement.
        sql: Text,
    },
    /// A keyset-paginated batch loop over `table`'s primary key.
    Backfill(Backfill),
    /// A question only the data can answer, asked before a lock-heavy step.
    Check(Check),
    /// What the live schema must look like before the phase starts.
    Expect(Expectation),
    /// A step of `split_table` that needs the live definition of the tables, run in one
    /// transaction.
    Split(Split),
    /// Work on a column whose SQL depends on the live catalog (its type, default,
    /// constraints and indexes), computed at run time; see [`Carry`].
    Carry(Carry),
}

/// A run-time step of `split_table`: the macro knows the names, the catalog knows the
/// types, NOT NULL, defaults and everything else the source table carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// What the step does.
    pub operation: SplitOperation,
    /// The schema of every table of the split, unquoted, when the declaration names it;
    /// otherwise the names resolve through the search path.
    pub schema: Option<Text>,
    /// The table being split, unquoted.
    pub source: Text,
    /// The primary-key columns every table shares, unquoted.
    pub key: List<Text>,
    /// The new tables and the columns each takes over.
    pub targets: List<SplitTarget>,
    /// Statements run in the same transaction (trigger removal before the source is
    /// dropped, trigger installation after it is rebuilt).
    pub statements: List<Text>,
    /// The run-time SQL in outline, for plans: the types are read when the step runs.
    pub preview: List<Text>,
}

/// The run-time steps of `split_table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitOperation {
    /// Checks that the key is the source's primary key and that every other column goes to
    /// exactly one new table, then creates the new tables with each column's type,
    /// collation, NOT NULL and default.
    CreateTargets,
    /// Runs `statements`, records how to rebuild the source in `zdm.split_snapshots`, hands
    /// the sequences the source owns to the new tables and drops the source.
    DropSource,
    /// Rebuilds the source from its record (unless it is still there), then runs
    /// `statements`.
    RestoreSource,
}

/// One table `split_table` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitTarget {
    /// Its name, unquoted.
    pub table: Text,
    /// The source's columns it takes over besides the key, unquoted.
    pub columns: List<Text>,
}

/// A batched backfill: each batch runs `statements` in one transaction, with `{range}`
/// replaced by a predicate selecting the next batch of `table`'s rows (a range of its
/// primary key, or of its heap pages) and `{key}` by the primary key's column list (`"id"`,
/// `"a", "b"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backfill {
    /// The table whose rows are walked, as written in SQL (quoted).
    pub table: Text,
    /// Statements with a `{range}` placeholder, written over `table`'s unqualified columns.
    pub statements: List<Text>,
    /// Whether a sync trigger fills every row the application inserts or updates while
    /// the backfill runs. Only then may batches walk heap pages: a row that an update
    /// moves to a page already passed is never visited again, so it must have been filled
    /// by the write that moved it. A backfill by keys finds every row wherever it moved.
    pub writes_filled: bool,
}

/// A precondition on the data: `count_sql` must return 0, else the step fails and shows
/// the rows `sample_sql` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What must hold, in words: "no NULL left in \"users\".\"email\"".
    pub expectation: Text,
    /// `SELECT count(*) …` of the offending rows.
    pub count_sql: Text,
    /// `SELECT …::text …` of a few offending rows (one text column).
    pub sample_sql: Text,
}

/// A fact about the live schema that a declaration relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// The table exists (and is a table).
    TableExists { table: Text },
    /// No relation of this name exists.
    TableAbsent { table: Text },
    /// The column exists; with `ty`, it has that type as `format_type` prints it.
    ColumnExists {
        table: Text,
        column: Text,
        ty: Option<Text>,
    },
    /// The column does not exist.
    ColumnAbsent { table: Text, column: Text },
    /// No relation is named `index`, or it is an index on `table` with the declared
    /// definition (valid: the build already ran; INVALID: a failed build the runner drops
    /// and redoes). Anything else of that name is drift.
    IndexAbsentOrSame {
        /// The table, as written in SQL (quoted).
        table: Text,
        /// The index, as written in SQL (quoted; qualified with the table's declared schema).
        index: Text,
        /// Whether the declared index is UNIQUE.
        unique: bool,
        /// What follows `ON table` in the declared `CREATE INDEX`: `USING … (…) …`.
        definition: Text,
    },
    /// `view` is a view reading `table` and no other relation, or there is no relation of
    /// that name any more. Both quoted.
    ViewOfTableOrAbsent { view: Text, table: Text },
    /// The column exists and accepts NULLs.
    ColumnNullable { table: Text, column: Text },
    /// The table has no constraint of this name (unquoted).
    ConstraintAbsent { table: Text, constraint: Text },
    /// PostgreSQL would accept a foreign key from `table`.`column` to
    /// `references`.`referenced_column`: the referenced table and column exist, a valid,
    /// non-partial unique index (a primary key or unique constraint) covers exactly that
    /// column, and the referencing type (`ty`, or the column's current type when `None`)
    /// can be compared with it.
    ForeignKeyTarget {
        table: Text,
        column: Text,
        ty: Option<Text>,
        references: Text,
        referenced_column: Text,
    },
    /// What the fragment given as `key` (`backfill`, `up`, …) reads and calls, as parsed
    /// at compile time: no column of `table` among `columns` is generated, and no function
    /// among `functions` is a volatile one outside `pg_catalog`. Names that do not exist are
    /// left for the server to report.
    FragmentReads {
        /// The table, as written in SQL (quoted).
        table: Text,
        /// The declaration's key, as the user wrote it.
        key: Text,
        /// Column names, unquoted, as PostgreSQL folds them.
        columns: List<Text>,
        /// Function names, possibly schema-qualified, quoted where needed.
        functions: List<Text>,
    },
}

impl Expectation {
    /// What the check makes sure of, as a step's description.
    pub fn description(&self) -> String {
        match self {
            Expectation::TableExists { table } => format!("check that table {table} exists"),
            Expectation::TableAbsent { table } => format!("check that no relation {table} exists"),
            Expectation::ColumnExists { table, column, .. } => {
                format!("check that column {table}.{} exists", quote_ident(column))
            }
            Expectation::ColumnAbsent { table, column } => {
                format!("check that column {table}.{} does not exist", quote_ident(column))
            }
            Expectation::IndexAbsentOrSame { table, index, .. } => {
                format!("check that index {index} is absent or built on {table} as declared")
            }
            Expectation::ViewOfTableOrAbsent { view, table } => {
                format!("check that {view} is still the view over {table}, or gone")
            }
            Expectation::ColumnNullable { table, column } => {
                format!(
                    "check that column {table}.{} exists and accepts NULLs",
                    quote_ident(column)
                )
            }
            Expectation::ConstraintAbsent { table, constraint } => {
                format!("check that {table} has no constraint {}", quote_ident(constraint))
            }
            Expectation::ForeignKeyTarget {
                references,
                referenced_column,
                ..
            } => format!(
                "check that {references}.{} exists, is unique and has a comparable type",
                quote_ident(referenced_column)
            ),
            Expectation::FragmentReads {
                table,
                key,
                columns,
                functions,
            } => {
                let mut reads = Vec::new();
                if !columns.is_empty() {
                    let names: Vec<String> = columns.iter().map(|column| quote_ident(column)).collect();
                    reads.push(format!("reads {}", names.join(", ")));
                }
                if !functions.is_empty() {
                    reads.push(format!("calls {}", functions.join(", ")));
                }
                format!(
                    "check that `{key}` reads no generated column of {table} and calls no volatile function of \
                     your own ({})",
                    reads.join("; ")
                )
            }
        }
    }
}

/// A step of a column swap (`rename_column`, `change_type`) whose SQL is computed at run
/// time from the live catalog: the macro cannot know the column's type, default,
/// constraints or indexes, so the first step of expand reads them, refuses what it cannot
/// carry, and records them in `zdm.carried_columns` / `zdm.carried_objects`; later steps
/// work from that record, so a resumed or reverted phase sees what the first run saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carry {
    /// The table, as written in SQL (quoted).
    pub table: Text,
    /// The existing column (unquoted), whose attributes are carried.
    pub column: Text,
    /// The column added for the transition (unquoted), which receives them.
    pub new_column: Text,
    /// What the step does.
    pub work: CarryWork,
    /// The step's SQL as a plan prints it: statements with the parts read from the catalog
    /// in angle brackets.
    pub shape: Text,
}

/// Which column's copy of the carried constraints and indexes a step works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarryTarget {
    /// The new column, with generated names (`zdm_<original name>`) and the column
    /// substituted in each definition.
    New,
    /// The original column, with the original names and definitions (reversals).
    Original,
}

/// The kinds of [`Carry`] step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CarryWork {
    /// Reads the column from the catalog, refuses anything it cannot carry (naming the
    /// object), checks every rewritten definition on a scratch copy of the table, decides
    /// whether a type change can happen in place, and records what it found.
    Inspect {
        /// The declared new type; `None` keeps the column's type.
        ty: Option<Text>,
        /// The declared default of the new column.
        default: Option<Text>,
        /// Whether the declaration gives its own `up`/`down` conversions.
        converts: bool,
        /// The expression the backfill assigns to the new column (over the old one).
        up: Option<Text>,
        /// The expression the reverse backfill assigns to the old column (over the new one),
        /// with `{old_type}` for the recorded type.
        down: Option<Text>,
        /// Whether the declaration says the functions of the table's row triggers were
        /// checked; otherwise a trigger whose function mentions the column is refused.
        triggers_checked: bool,
    },
    /// Counts rows whose value the conversion cannot turn into the new type, and refuses
    /// with samples.
    CheckConvertible {
        /// The conversion of one value, read as `$1`: what the per-row count runs, catching
        /// the error of each row, once `scan` has failed.
        conversion: Text,
        /// One statement converting every value of the column in one scan; it fails when
        /// any value does not convert, and costs far less than a subtransaction per row.
        scan: Text,
    },
    /// `ADD COLUMN` of the recorded type and collation, without default or NOT NULL.
    AddColumn,
    /// Drops the new column, if this migration added it.
    DropColumn,
    /// A binary-coercible type change in place (catalog only); skipped otherwise.
    AlterInPlace,
    /// Undoes [`CarryWork::AlterInPlace`].
    RestoreInPlace,
    /// Statements run in one transaction, `{old_type}` replaced by the recorded type.
    Transaction(List<Text>),
    /// A batched backfill (see [`Backfill`]) with `{old_type}` replaced; with `refill`, only
    /// after [`CarryWork::Unswap`] re-added the old column.
    Backfill { statements: List<Text>, refill: bool },
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY` of every carried index.
    BuildIndexes(CarryTarget),
    /// `DROP INDEX CONCURRENTLY IF EXISTS` of the carried indexes on the new column.
    DropIndexes,
    /// Counts NULLs in the target column when the original was NOT NULL.
    CheckNulls(CarryTarget),
    /// The NOT NULL stand-in CHECK, the CHECK and FOREIGN KEY constraints, all `NOT VALID`.
    AddConstraints(CarryTarget),
    /// `VALIDATE CONSTRAINT`, each in its own transaction.
    ValidateConstraints(CarryTarget),
    /// `SET NOT NULL`, proven by the validated stand-in, which is then dropped.
    SetNotNull(CarryTarget),
    /// One transaction: `statements` (the sync trigger's removal), then drop the old
    /// column, give the new one its final name and default, and the carried objects their
    /// original names.
    Swap { statements: List<Text>, rename: bool },
    /// Undoes a swap: re-adds the old column (empty, refilled by the next step), renames
    /// the carried objects back and runs `statements` (the sync trigger). Before a swap, it
    /// drops the constraints the contract added to the new column.
    Unswap { statements: List<Text>, rename: bool },
    /// Deletes the record made by [`CarryWork::Inspect`].
    Forget,
}

/// One step of a phase or of a reversal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step does, in words.
    pub description: Text,
    /// The strongest table lock the step takes.
    pub lock: Lock,
    /// The table whose lock the step waits for; named in blocker reports. A table of the
    /// state schema is written `{state}.…`, like the statements that use it.
    pub table: Option<Text>,
    /// The work.
    pub action: Action,
}

/// The steps of one phase and of its reversal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhasePlan {
    /// What the phase achieves, in words.
    pub summary: Text,
    /// Steps run by the phase, in order.
    pub forward: List<Step>,
    /// Steps that undo the phase, in order. Every one is safe to run again and safe to
    /// run after the forward steps were only partly applied.
    pub reverse: List<Step>,
    /// What undoing the phase throws away, if anything ("every value of the new column
    /// …"); the CLI asks for `--allow-data-loss` before such a reversal.
    pub reverse_discards: Option<Text>,
}

/// The complete plan of one `#[zero_downtime]` declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The migration's unique id.
    pub id: Text,
    /// The operation, as written in the attribute (`add_column`, …); for a declaration of
    /// several, their names in written order joined by ` + ` (`add_column + add_index`).
    pub operation: Text,
    /// The declaration's doc comment, if any.
    pub description: Text,
    /// Expand, sync, backfill and contract, in this order.
    pub phases: [PhasePlan; 4],
    /// What `purge` runs once contract has completed: it throws away for good what contract
    /// set aside instead of dropping (a table, a column), after which contract can no
    /// longer be reverted. Empty for most operations.
    pub purge: List<Step>,
    /// The tables the new application version sees through the migration's version
    /// schema ([`crate::names::version_schema`]); empty when the migration changes no
    /// table's shape.
    pub presents: List<Presented>,
}

impl Plan {
    /// The steps of one phase.
    pub fn phase(&self, phase: Phase) -> &PhasePlan {
        &self.phases[phase.index()]
    }
}

/// A schema change declared with `#[zero_downtime]`.
pub trait Migration: Sync {
    /// The plan the attribute generated.
    fn plan(&self) -> &'static Plan;

    /// The migration's unique id.
    fn id(&self) -> &'static str {
        &self.plan().id
    }
}
