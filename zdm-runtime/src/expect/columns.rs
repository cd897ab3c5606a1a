//! Checks of the live schema that constraint changes rely on: a column that still accepts
//! NULLs, a constraint name that is free, and a foreign key PostgreSQL would accept. Each
//! runs before its phase changes anything and reports drift in the declaration's terms, so
//! a foreign key that cannot be created is refused at expand, not at contract after the
//! column, the index and the backfill.

use postgres::Client;

use super::drift;
use crate::error::{Error, Result};
use zdm_plan::sql::quote_ident;
use zdm_plan::Plan;

pub(super) fn nullable(client: &mut Client, plan: &Plan, table: &str, column: &str) -> Result<()> {
    let expected = format!("a nullable column {table}.{}", quote_ident(column));
    if !is_table(client, table)? {
        return drift(plan, format!("table {table}"), "no such table".to_owned());
    }
    match attribute(client, table, column)? {
        None => drift(plan, expected, "no such column".to_owned()),
        Some(attribute) if attribute.not_null => drift(plan, expected, "it is already NOT NULL".to_owned()),
        Some(_) => Ok(()),
    }
}

pub(super) fn constraint_absent(
    client: &mut Client,
    plan: &Plan,
    table: &str,
    constraint: &str,
) -> Result<()> {
    let row = client
        .query_opt(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c \
             WHERE c.conrelid = to_regclass($1) AND c.conname = $2",
            &[&table, &constraint],
        )
        .map_err(Error::Catalog)?;
    match row {
        None => Ok(()),
        Some(row) => drift(
            plan,
            format!("no constraint {} on {table}", quote_ident(constraint)),
            format!("one already there: {}", row.get::<_, String>(0)),
        ),
    }
}

/// The foreign key a declaration adds: the referencing column (of type `ty` when it is
/// new) and the column it references.
pub(super) struct ForeignKey<'a> {
    pub(super) table: &'a str,
    pub(super) column: &'a str,
    pub(super) ty: Option<&'a str>,
    pub(super) references: &'a str,
    pub(super) referenced_column: &'a str,
}

/// Whether PostgreSQL would accept the foreign key: the referenced table and column exist,
/// a unique index stands on exactly that column, and the types compare.
pub(super) fn foreign_key_target(client: &mut Client, plan: &Plan, key: &ForeignKey<'_>) -> Result<()> {
    let ForeignKey {
        table,
        column,
        ty,
        references,
        referenced_column,
    } = *key;
    let target = format!("{references}.{}", quote_ident(referenced_column));
    if !is_table(client, references)? {
        return drift(
            plan,
            format!("table {references} for the foreign key to reference"),
            "no such table".to_owned(),
        );
    }
    if attribute(client, references, referenced_column)?.is_none() {
        return drift(
            plan,
            format!("column {target} for the foreign key to reference"),
            "no such column".to_owned(),
        );
    }
    let Some(index) = unique_index(client, references, referenced_column)? else {
        return drift(
            plan,
            format!(
                "a primary key or unique constraint on exactly {target}, which a foreign key must reference"
            ),
            "none, so PostgreSQL would refuse the foreign key; add a unique constraint on it first \
             (or reference the primary key)"
                .to_owned(),
        );
    };
    let row = client
        .query_opt(COMPARABLE_TYPES, &[&ty, &table, &column, &index])
        .map_err(Error::Catalog)?;
    let referencing = format!("{table}.{}", quote_ident(column));
    match row {
        None => match ty {
            Some(ty) => drift(
                plan,
                format!("a type {ty} for {referencing}"),
                "no such type".to_owned(),
            ),
            None => drift(plan, format!("column {referencing}"), "no such column".to_owned()),
        },
        Some(row) if !row.get::<_, bool>(2) => drift(
            plan,
            format!(
                "{referencing} of a type comparable with {target} ({})",
                row.get::<_, String>(1)
            ),
            format!(
                "type {}, which PostgreSQL cannot compare with it in a foreign key",
                row.get::<_, String>(0)
            ),
        ),
        Some(_) => Ok(()),
    }
}

/// The referencing type (`$1`, or column `$3` of `$2`) and the type of the column under
/// the unique index `$4`, and whether PostgreSQL compares them in a foreign key: the same
/// base type, an equality operator of the index's family for both, or an implicit cast.
const COMPARABLE_TYPES: &str = "WITH fk AS ( \
     SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AS base, \
            format_type(t.oid, NULL) AS name \
     FROM pg_type t \
     WHERE t.oid = coalesce(to_regtype($1::text), \
         (SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = to_regclass($2::text) \
            AND a.attname = $3::text AND a.attnum > 0 AND NOT a.attisdropped))), \
 pk AS ( \
     SELECT a.atttypid AS ty, format_type(a.atttypid, a.atttypmod) AS name, \
            o.opcfamily AS family, o.opcintype AS input \
     FROM pg_index i JOIN pg_opclass o ON o.oid = i.indclass[0] \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
     WHERE i.indexrelid = to_regclass($4::text)) \
 SELECT fk.name, pk.name, \
        fk.base = pk.ty OR fk.base = pk.input \
        OR (EXISTS (SELECT 1 FROM pg_amop m WHERE m.amopfamily = pk.family \
                      AND m.amoplefttype = pk.input AND m.amoprighttype = fk.base \
                      AND m.amopstrategy = 3) \
            AND EXISTS (SELECT 1 FROM pg_amop m WHERE m.amopfamily = pk.family \
                      AND m.amoplefttype = fk.base AND m.amoprighttype = fk.base \
                      AND m.amopstrategy = 3)) \
        OR EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = fk.base \
                      AND c.casttarget = pk.input AND c.castcontext = 'i') \
 FROM fk, pk";

struct Attribute {
    not_null: bool,
}

fn is_table(client: &mut Client, table: &str) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT c.relkind IN ('r', 'p') FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&table],
        )
        .map_err(Error::Catalog)?;
    Ok(row.is_some_and(|row| row.get(0)))
}

fn attribute(client: &mut Client, table: &str, column: &str) -> Result<Option<Attribute>> {
    let row = client
        .query_opt(
            "SELECT a.attnotnull FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&table, &column],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| Attribute { not_null: row.get(0) }))
}

/// A unique index PostgreSQL accepts as a foreign key's target: valid, not deferrable,
/// not partial, on exactly `column`; the primary key's first. Its name, quoted and
/// schema-qualified as `regclass` prints it.
fn unique_index(client: &mut Client, table: &str, column: &str) -> Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT i.indexrelid::regclass::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $2 \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate AND i.indisvalid \
               AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum \
             ORDER BY i.indisprimary DESC, 1 LIMIT 1",
            &[&table, &column],
        )
        .map_err(Error::Catalog)?;
    Ok(row.map(|row| row.get(0)))
}
