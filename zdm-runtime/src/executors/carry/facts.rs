//! What inspect reads of the table, the column and everything that depends on the column,
//! before any rule judges it.

use postgres::Transaction;

use zdm_plan::Carry;

/// The table, as `pg_class` describes it.
pub(super) struct Relation {
    pub(super) id: u32,
    pub(super) namespace: u32,
    /// `pg_class.relkind`.
    pub(super) kind: String,
    /// Whether it has inheritance parents or children.
    pub(super) inherits: bool,
}

pub(super) fn relation(
    transaction: &mut Transaction<'_>,
    table: &str,
) -> Result<Option<Relation>, postgres::Error> {
    let row = transaction.query_opt(
        "SELECT c.oid, c.relkind::text, c.relnamespace, \
                EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid) \
         FROM pg_class c WHERE c.oid = to_regclass($1)",
        &[&table],
    )?;
    Ok(row.map(|row| Relation {
        id: row.get(0),
        kind: row.get(1),
        namespace: row.get(2),
        inherits: row.get(3),
    }))
}

/// The schema of `table`: carried indexes live there, and are named with it (through
/// [`zdm_plan::sql::qualified`]) so that no statement about them depends on the search
/// path. `None` when the table is gone.
pub(super) fn table_schema(
    client: &mut impl postgres::GenericClient,
    table: &str,
) -> Result<Option<String>, postgres::Error> {
    let row = client.query_opt(
        "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = to_regclass($1)",
        &[&table],
    )?;
    Ok(row.map(|row| row.get(0)))
}

/// The column being carried, as `pg_attribute` and its neighbours describe it.
pub(super) struct Column {
    pub(super) attnum: i16,
    pub(super) ty: String,
    /// The column's name as PostgreSQL quotes it in definitions.
    pub(super) quoted: String,
    /// A collation other than the type's default, schema-qualified and quoted.
    pub(super) collation: Option<String>,
    pub(super) default: Option<String>,
    pub(super) not_null: bool,
    pub(super) comment: Option<String>,
    pub(super) statistics: Option<i32>,
    /// `attidentity`: empty unless an identity column.
    pub(super) identity: String,
    /// `attgenerated`: empty unless a generated column.
    pub(super) generated: String,
    /// Whether column-level privileges are granted on it.
    pub(super) has_privileges: bool,
    /// The new column's name as PostgreSQL would quote it.
    pub(super) new_quoted: String,
}

pub(super) fn column(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    carry: &Carry,
) -> Result<Option<Column>, postgres::Error> {
    let row = transaction.query_opt(
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
        &[&relation.id, &carry.column, &carry.new_column],
    )?;
    Ok(row.map(|row| Column {
        attnum: row.get(0),
        ty: row.get(1),
        quoted: row.get(2),
        collation: row.get(3),
        default: row.get(4),
        not_null: row.get(5),
        comment: row.get(6),
        statistics: row.get(7),
        identity: row.get(8),
        generated: row.get(9),
        has_privileges: row.get(10),
        new_quoted: row.get(11),
    }))
}

/// An object that depends on the column, per `pg_depend`.
pub(super) struct Dependent {
    /// The catalog it lives in (`pg_class`, `pg_constraint`, …).
    pub(super) class: String,
    pub(super) object: u32,
    /// `pg_describe_object`'s words for it.
    pub(super) description: String,
}

pub(super) fn dependents(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    column: &Column,
) -> Result<Vec<Dependent>, postgres::Error> {
    let rows = transaction.query(
        "SELECT DISTINCT d.classid::regclass::text, d.objid, pg_describe_object(d.classid, d.objid, 0) \
         FROM pg_depend d \
         WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.refobjsubid = $2 \
         ORDER BY 1, 3",
        &[&relation.id, &i32::from(column.attnum)],
    )?;
    Ok(rows
        .iter()
        .map(|row| Dependent {
            class: row.get(0),
            object: row.get(1),
            description: row.get(2),
        })
        .collect())
}

/// What the declaration says about the new column.
pub(super) struct Declared {
    pub(super) ty: Option<&'static str>,
    pub(super) default: Option<&'static str>,
    pub(super) converts: bool,
    pub(super) up: Option<&'static str>,
    pub(super) down: Option<&'static str>,
    pub(super) triggers_checked: bool,
}
