//! What expand records of the column it carries, in `zdm.carried_columns` and
//! `zdm.carried_objects`: every later step works from this record, not from a catalog the
//! migration itself has half changed.

use postgres::{Client, Transaction};

use crate::error::{Error, Result};
use crate::session::{Session, StepContext};
use crate::store::{self, StateSchema};
use zdm_plan::sql::quote_ident;
use zdm_plan::{Carry, CarryTarget};

/// What a carry step did.
pub(crate) struct Outcome {
    pub(crate) rows: u64,
    pub(crate) lock_retries: u32,
    pub(crate) already_done: bool,
    pub(crate) note: Option<String>,
}

impl Outcome {
    pub(super) fn done(lock_retries: u32) -> Outcome {
        Outcome {
            rows: 0,
            lock_retries,
            already_done: false,
            note: None,
        }
    }

    pub(super) fn noted(mut self, note: impl Into<String>) -> Outcome {
        self.note = Some(note.into());
        self
    }
}

/// Where a swap stands; moves with the work, in the same transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
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
    pub(super) fn name(self) -> &'static str {
        match self {
            Stage::Inspected => "inspected",
            Stage::Added => "added",
            Stage::Altered => "altered",
            Stage::Swapped => "swapped",
            Stage::Unswapped => "unswapped",
        }
    }

    pub(super) fn from_name(name: &str) -> Stage {
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
pub(super) enum ObjectKind {
    Index,
    UniqueIndex,
    /// A UNIQUE constraint: its index is built like any other, and attached with
    /// `ADD CONSTRAINT … UNIQUE USING INDEX`.
    Unique,
    Check,
    ForeignKey,
}

impl ObjectKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            ObjectKind::Index => "index",
            ObjectKind::UniqueIndex => "unique index",
            ObjectKind::Unique => "unique constraint",
            ObjectKind::Check => "check constraint",
            ObjectKind::ForeignKey => "foreign key",
        }
    }

    pub(super) fn from_name(name: &str) -> ObjectKind {
        match name {
            "unique index" => ObjectKind::UniqueIndex,
            "unique constraint" => ObjectKind::Unique,
            "check constraint" => ObjectKind::Check,
            "foreign key" => ObjectKind::ForeignKey,
            _ => ObjectKind::Index,
        }
    }

    pub(super) fn is_index(self) -> bool {
        matches!(
            self,
            ObjectKind::Index | ObjectKind::UniqueIndex | ObjectKind::Unique
        )
    }
}

/// An index or constraint on the old column, and its copy on the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Object {
    pub(super) kind: ObjectKind,
    pub(super) name: String,
    pub(super) carried_name: String,
    /// Indexes: the `USING …` part of `pg_get_indexdef`; constraints: the definition
    /// without `NOT VALID`.
    pub(super) definition: String,
    /// The same with the column substituted.
    pub(super) carried_definition: String,
    /// Whether the original constraint was validated; the copy is validated only then.
    pub(super) validated: bool,
    /// `DEFERRABLE …` of a UNIQUE constraint.
    pub(super) attributes: String,
}

impl Object {
    pub(super) fn name_for(&self, target: CarryTarget) -> &str {
        match target {
            CarryTarget::New => &self.carried_name,
            CarryTarget::Original => &self.name,
        }
    }

    pub(super) fn definition_for(&self, target: CarryTarget) -> &str {
        match target {
            CarryTarget::New => &self.carried_definition,
            CarryTarget::Original => &self.definition,
        }
    }

    pub(super) fn create_index(&self, table: &str, target: CarryTarget, concurrently: bool) -> String {
        let unique = if self.kind == ObjectKind::Index {
            ""
        } else {
            "UNIQUE "
        };
        let concurrently = if concurrently { "CONCURRENTLY " } else { "" };
        format!(
            "CREATE {unique}INDEX {concurrently}{} ON {table} {}",
            quote_ident(self.name_for(target)),
            self.definition_for(target)
        )
    }
}

/// What a step of a swap works on: the declaration's part of it and what expand recorded.
#[derive(Clone, Copy)]
pub(super) struct Work<'a> {
    pub(super) carry: &'static Carry,
    pub(super) record: &'a Record,
}

/// What expand found out about the column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) stage: Stage,
    pub(super) in_place: bool,
    pub(super) old_type: String,
    pub(super) new_type: String,
    pub(super) old_collation: Option<String>,
    pub(super) new_collation: Option<String>,
    pub(super) old_default: Option<String>,
    pub(super) new_default: Option<String>,
    pub(super) not_null: bool,
    pub(super) comment: Option<String>,
    pub(super) statistics: Option<i32>,
    pub(super) objects: Vec<Object>,
}

impl Record {
    pub(super) fn column_definition(&self, target: CarryTarget) -> String {
        let (ty, collation) = match target {
            CarryTarget::New => (&self.new_type, &self.new_collation),
            CarryTarget::Original => (&self.old_type, &self.old_collation),
        };
        match collation {
            Some(collation) => format!("{ty} COLLATE {collation}"),
            None => ty.clone(),
        }
    }

    pub(super) fn substitute(&self, sql: &str) -> String {
        zdm_plan::sql::substitute(sql, &[("{old_type}", &self.old_type)])
    }

    /// What is carried, in words, for the step report.
    pub(super) fn summary(&self) -> String {
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

pub(super) fn set_stage(
    transaction: &mut Transaction<'_>,
    context: &StepContext,
    stage: Stage,
) -> Result<(), postgres::Error> {
    transaction
        .execute(
            &context
                .state
                .sql("UPDATE {state}.carried_columns SET stage = $2 WHERE migration = $1"),
            &[&context.plan.id, &stage.name()],
        )
        .map(drop)
}

/// Deletes what expand recorded, with the carried objects (`ON DELETE CASCADE`).
pub(super) fn forget(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    migration: &str,
) -> Result<(), postgres::Error> {
    if store::has_carried(transaction, state)? {
        transaction.execute(
            &state.sql("DELETE FROM {state}.carried_columns WHERE migration = $1"),
            &[&migration],
        )?;
    }
    Ok(())
}

pub(super) fn load(client: &mut Client, context: &StepContext) -> Result<Option<Record>> {
    load_record(client, context.state, &context.plan.id).map_err(|error| context.failed(error))
}

pub(super) fn required(session: &mut Session, context: &StepContext) -> Result<Record> {
    load(session.client(), context)?.ok_or_else(|| Error::Refused {
        migration: context.plan.id.to_string(),
        before: "any change".to_owned(),
        reason: format!(
            "zdm has no record of the column this migration carries ({}); expand records it, so run \
             expand first",
            context.state.table("carried_columns")
        ),
    })
}

pub(super) fn load_record(
    client: &mut Client,
    state: &StateSchema,
    migration: &str,
) -> Result<Option<Record>, postgres::Error> {
    if !store::has_carried(client, state)? {
        return Ok(None);
    }
    let Some(row) = client.query_opt(
        &state.sql("SELECT stage, in_place, old_type, new_type, old_collation, new_collation, old_default, new_default, \
                not_null, comment, statistics \
         FROM {state}.carried_columns WHERE migration = $1"),
        &[&migration],
    )?
    else {
        return Ok(None);
    };
    let objects = client
        .query(
            &state.sql(
                "SELECT kind, name, carried_name, definition, carried_definition, validated, attributes \
             FROM {state}.carried_objects WHERE migration = $1 ORDER BY position",
            ),
            &[&migration],
        )?
        .iter()
        .map(|row| Object {
            kind: ObjectKind::from_name(row.get(0)),
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

pub(super) fn save_record(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    migration: &str,
    record: &Record,
) -> Result<(), postgres::Error> {
    store::ensure_carried(transaction, state)?;
    transaction.execute(
        &state.sql("DELETE FROM {state}.carried_columns WHERE migration = $1"),
        &[&migration],
    )?;
    transaction.execute(
        &state.sql("INSERT INTO {state}.carried_columns (migration, stage, in_place, old_type, new_type, old_collation, \
             new_collation, old_default, new_default, not_null, comment, statistics) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
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
            &state.sql("INSERT INTO {state}.carried_objects (migration, position, kind, name, carried_name, definition, \
                 carried_definition, validated, attributes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
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

/// A name as PostgreSQL prints it in messages (`regclass`): bare when it can be, quoted
/// otherwise.
pub(super) fn display(name: &str) -> String {
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
