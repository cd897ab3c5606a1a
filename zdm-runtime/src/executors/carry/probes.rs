//! The scratch copies inspect tries every carried definition on: temporary tables in the
//! inspecting transaction, which it rolls back, so a definition PostgreSQL would refuse, or
//! one zdm rewrote wrong, is refused before any change.

use postgres::Transaction;

use super::definitions::Carried;
use super::facts::{Column, Declared, Relation};
use super::record::{display, Object, ObjectKind};
use super::rewrite::retarget_foreign_key;
use crate::error::{describe, Error};
use crate::statement::ExecuteOne;
use zdm_plan::sql::quote_ident;
use zdm_plan::Carry;

/// The new column as PostgreSQL made it on the scratch copy `pg_temp.zdm_probe`.
pub(super) struct NewColumn {
    /// The type as `format_type` prints it.
    pub(super) ty: String,
    pub(super) collation: Option<String>,
    /// The scratch copy's OID.
    probe: u32,
}

/// Creates the scratch copy with the new column; `Ok(Err(reason))` when the declared type
/// does not work.
pub(super) fn add_new_column(
    transaction: &mut Transaction<'_>,
    carry: &Carry,
    column: &Column,
    declared: &Declared,
) -> Result<Result<NewColumn, String>, postgres::Error> {
    transaction.execute_one(&format!("CREATE TEMP TABLE zdm_probe (LIKE {})", carry.table))?;
    let new_type = declared.ty.unwrap_or(&column.ty);
    let to_q = &column.new_quoted;
    let added = attempt(
        transaction,
        &format!("ALTER TABLE pg_temp.zdm_probe ADD COLUMN {to_q} {new_type}"),
    )?;
    if let Err(message) = added {
        return Ok(Err(format!("the type {new_type} does not work: {message}")));
    }
    let probe = transaction.query_one(
        "SELECT format_type(a.atttypid, a.atttypmod), t.typcollation <> 0, 'pg_temp.zdm_probe'::regclass::oid \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = 'pg_temp.zdm_probe'::regclass AND a.attname = $1",
        &[&carry.new_column],
    )?;
    let new = NewColumn {
        ty: probe.get(0),
        collation: if probe.get::<_, bool>(1) {
            column.collation.clone()
        } else {
            None
        },
        probe: probe.get(2),
    };
    if let Some(collation) = &new.collation {
        transaction.execute_one(&format!(
            "ALTER TABLE pg_temp.zdm_probe ALTER COLUMN {to_q} TYPE {} COLLATE {collation}",
            new.ty
        ))?;
    }
    Ok(Ok(new))
}

/// The new column's default: the declared one, the old one when the type stays, or the
/// old one converted; `Ok(Err(reason))` when it cannot be told.
pub(super) fn new_default(
    transaction: &mut Transaction<'_>,
    carry: &Carry,
    column: &Column,
    declared: &Declared,
    new_type: &str,
) -> Result<Result<Option<String>, String>, postgres::Error> {
    let (old_type, from_q) = (&column.ty, &column.quoted);
    Ok(Ok(match (declared.default, &column.default) {
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
                        return Ok(Err(format!(
                            "the default {default} of {} cannot be converted to {new_type}: {message}; \
                             declare the new default with `default = \"…\"`",
                            quote_ident(&carry.column)
                        )))
                    }
                }
            } else if declared.converts {
                return Ok(Err(format!(
                    "{} has the default {default}, and with `up` declared zdm cannot tell what it becomes \
                     in {new_type}; declare it with `default = \"…\"`",
                    quote_ident(&carry.column)
                )));
            } else {
                Some(format!("({default})::{new_type}"))
            }
        }
    }))
}

/// Tries the default and the `up` and `down` conversions on the scratch copy.
pub(super) fn try_conversions(
    transaction: &mut Transaction<'_>,
    column: &Column,
    declared: &Declared,
    new_default: Option<&String>,
    new_type: &str,
    refusals: &mut Vec<String>,
) -> Result<(), postgres::Error> {
    let (old_type, from_q, to_q) = (&column.ty, &column.quoted, &column.new_quoted);
    let probes = [
        new_default.map(|default| {
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
            let down = zdm_plan::sql::substitute(down, &[("{old_type}", old_type)]);
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
    Ok(())
}

/// Builds every carried definition on the scratch copy: it must be accepted for the new
/// column's type, and refer to the same columns as the original with ours substituted.
pub(super) fn try_carried(
    transaction: &mut Transaction<'_>,
    carry: &Carry,
    relation: &Relation,
    new: &NewColumn,
    carried: &[Carried],
    refusals: &mut Vec<String>,
) -> Result<(), postgres::Error> {
    for (position, item) in carried.iter().enumerate() {
        let scratch = format!("zdm_probe_{position}");
        let object = &item.object;
        let label = format!("the {} {}", object.kind.name(), display(&object.name));
        if let Err(message) = build_copy(transaction, position, item)? {
            refusals.push(format!("{label} cannot be carried to {}: {message}", new.ty));
            continue;
        }
        let (class, original) = if object.kind.is_index() {
            ("pg_class", item.index)
        } else {
            ("pg_constraint", item.source)
        };
        let mut expected = referenced_columns(transaction, class, original, relation.id)?
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
        let copy = copy_oid(transaction, object.kind, &scratch, new.probe)?;
        let mut actual = referenced_columns(transaction, class, copy, new.probe)?;
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
    Ok(())
}

/// Builds the copy of one carried object on the scratch table, as `zdm_probe_<position>`;
/// a foreign key points at a scratch copy of its referenced table.
fn build_copy(
    transaction: &mut Transaction<'_>,
    position: usize,
    carried: &Carried,
) -> Result<Result<(), String>, postgres::Error> {
    let object: &Object = &carried.object;
    let scratch = format!("zdm_probe_{position}");
    match object.kind {
        ObjectKind::Index | ObjectKind::UniqueIndex | ObjectKind::Unique => {
            let unique = if object.kind == ObjectKind::Index {
                ""
            } else {
                "UNIQUE "
            };
            attempt(
                transaction,
                &format!(
                    "CREATE {unique}INDEX {scratch} ON pg_temp.zdm_probe {}",
                    object.carried_definition
                ),
            )
        }
        ObjectKind::Check => attempt(
            transaction,
            &format!(
                "ALTER TABLE pg_temp.zdm_probe ADD CONSTRAINT {scratch} {} NOT VALID",
                object.carried_definition
            ),
        ),
        ObjectKind::ForeignKey => {
            let referenced: String = transaction
                .query_one(
                    "SELECT confrelid::regclass::text FROM pg_constraint WHERE oid = $1",
                    &[&carried.source],
                )?
                .get(0);
            transaction.execute_one(&format!(
                "CREATE TEMP TABLE zdm_probe_ref_{position} (LIKE {referenced} INCLUDING INDEXES)"
            ))?;
            match retarget_foreign_key(
                &object.carried_definition,
                &format!("pg_temp.zdm_probe_ref_{position}"),
            ) {
                Some(definition) => attempt(
                    transaction,
                    &format!("ALTER TABLE pg_temp.zdm_probe ADD CONSTRAINT {scratch} {definition} NOT VALID"),
                ),
                None => Ok(Err("its definition could not be read".to_owned())),
            }
        }
    }
}

/// The OID of the copy built by [`build_copy`]: an index, or a constraint of the scratch table.
fn copy_oid(
    transaction: &mut Transaction<'_>,
    kind: ObjectKind,
    scratch: &str,
    probe: u32,
) -> Result<u32, postgres::Error> {
    let row = if kind.is_index() {
        transaction.query_one(&format!("SELECT 'pg_temp.{scratch}'::regclass::oid"), &[])?
    } else {
        transaction.query_one(
            "SELECT oid FROM pg_constraint WHERE conrelid = $1 AND conname = $2",
            &[&probe, &scratch],
        )?
    };
    Ok(row.get(0))
}

/// Whether `ALTER COLUMN … TYPE` would change only the catalog: tried on an empty copy of
/// the table with the column's indexes, it must keep the table's and every index's file
/// (a rewrite or an index rebuild gives a new one). A CHECK constraint or a FOREIGN KEY on
/// the column is re-validated by a scan under ACCESS EXCLUSIVE even without a rewrite, so
/// either means a copy.
pub(super) fn changes_in_place(
    transaction: &mut Transaction<'_>,
    carry: &'static Carry,
    objects: &[Object],
    new_type: &str,
    new_collation: &Option<String>,
) -> Result<bool, postgres::Error> {
    if objects
        .iter()
        .any(|object| matches!(object.kind, ObjectKind::Check | ObjectKind::ForeignKey))
    {
        return Ok(false);
    }
    transaction.execute_one(&format!("CREATE TEMP TABLE zdm_in_place (LIKE {})", carry.table))?;
    for (position, object) in objects.iter().enumerate() {
        let unique = if object.kind == ObjectKind::Index {
            ""
        } else {
            "UNIQUE "
        };
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

/// Runs `sql` in a savepoint: `Ok(Err(message))` when the server refuses it, so the caller
/// can say what cannot be carried; a lock timeout is passed up to be retried.
pub(super) fn attempt(
    transaction: &mut Transaction<'_>,
    sql: &str,
) -> Result<Result<(), String>, postgres::Error> {
    let mut savepoint = transaction.transaction()?;
    match savepoint.execute_one(sql) {
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
