//! The definitions of the indexes and constraints a swap carries, read from the catalog
//! and rewritten for the new column, with the names their copies get.

use postgres::Transaction;

use super::facts::{Column, Relation};
use super::record::{display, Object, ObjectKind};
use super::rewrite::{index_tail, substitute, substitute_foreign_key};
use zdm_plan::names;

/// One carried object and where it comes from in the catalog: its own OID and, for a
/// UNIQUE constraint, that of its index.
pub(super) struct Carried {
    pub(super) object: Object,
    pub(super) index: u32,
    pub(super) source: u32,
}

/// An object's definition as read, before rewriting.
struct Read {
    name: String,
    definition: Option<String>,
    validated: bool,
    attributes: String,
    index: u32,
}

/// Reads and rewrites every object to carry; what cannot be read, rewritten or named goes
/// to `refusals`.
pub(super) fn read_all(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    column: &Column,
    found: Vec<(ObjectKind, u32)>,
    refusals: &mut Vec<String>,
) -> Result<Vec<Carried>, postgres::Error> {
    let mut carried = Vec::new();
    for (kind, object) in found {
        let read = match kind {
            ObjectKind::Index | ObjectKind::UniqueIndex => read_index(transaction, object, refusals)?,
            ObjectKind::Unique => read_unique(transaction, object, refusals)?,
            ObjectKind::Check | ObjectKind::ForeignKey => read_constraint(transaction, object)?,
        };
        let Some(definition) = read.definition else {
            refusals.push(format!(
                "zdm cannot read the definition of the {} {}",
                kind.name(),
                display(&read.name)
            ));
            continue;
        };
        let carried_definition = match kind {
            ObjectKind::ForeignKey => substitute_foreign_key(&definition, &column.quoted, &column.new_quoted),
            _ => Some(substitute(&definition, &column.quoted, &column.new_quoted)),
        };
        let Some(carried_definition) = carried_definition else {
            refusals.push(format!(
                "zdm cannot rewrite the {} {} ({definition}) for the new column",
                kind.name(),
                display(&read.name)
            ));
            continue;
        };
        let carried_name = names::carried(&read.name);
        if name_taken(transaction, relation, kind, &carried_name)? {
            refusals.push(format!(
                "the name {} for the copy of the {} {} is taken",
                display(&carried_name),
                kind.name(),
                display(&read.name)
            ));
        }
        carried.push(Carried {
            object: Object {
                kind,
                name: read.name,
                carried_name,
                definition,
                carried_definition,
                validated: read.validated,
                attributes: read.attributes,
            },
            index: read.index,
            source: object,
        });
    }
    Ok(carried)
}

/// An index: refused when INVALID (a failed build) or the table's replica identity.
fn read_index(
    transaction: &mut Transaction<'_>,
    object: u32,
    refusals: &mut Vec<String>,
) -> Result<Read, postgres::Error> {
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
    Ok(Read {
        name,
        definition: index_tail(row.get(1)),
        validated: true,
        attributes: String::new(),
        index: object,
    })
}

/// A UNIQUE constraint: its index's definition and its deferrability.
fn read_unique(
    transaction: &mut Transaction<'_>,
    object: u32,
    refusals: &mut Vec<String>,
) -> Result<Read, postgres::Error> {
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
    Ok(Read {
        name,
        definition: index_tail(row.get(1)),
        validated: true,
        attributes: row.get(2),
        index: row.get(3),
    })
}

/// A CHECK or FOREIGN KEY: its definition without `NOT VALID`, and whether it was validated.
fn read_constraint(transaction: &mut Transaction<'_>, object: u32) -> Result<Read, postgres::Error> {
    let row = transaction.query_one(
        "SELECT conname::text, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE oid = $1",
        &[&object],
    )?;
    let definition: String = row.get(1);
    let definition = definition
        .strip_suffix(" NOT VALID")
        .unwrap_or(&definition)
        .to_owned();
    Ok(Read {
        name: row.get(0),
        definition: Some(definition),
        validated: row.get(2),
        attributes: String::new(),
        index: object,
    })
}

/// Whether the copy's name is used: by a relation of the schema for an index (an index
/// shares the namespace of tables), by a constraint of the table for either.
fn name_taken(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    kind: ObjectKind,
    carried_name: &str,
) -> Result<bool, postgres::Error> {
    let row = if kind.is_index() {
        transaction.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = $2) \
                OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $3)",
            &[&carried_name, &relation.namespace, &relation.id],
        )?
    } else {
        transaction.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $2)",
            &[&carried_name, &relation.id],
        )?
    };
    Ok(row.get(0))
}
