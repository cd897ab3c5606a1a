//! The run-time steps of `split_table`: the parts that need the live definition of the
//! table being split, which the macro cannot know.
//!
//! - expand creates the new tables with the source's key and their columns, each with the
//!   type, collation, NOT NULL and default it has in the source, and the source's
//!   privileges, after checking that the declaration accounts for every column;
//! - contract records how to rebuild the source (columns, primary key, other constraints,
//!   indexes, sequence ownership, privileges) in `zdm.split_snapshots`, in the same
//!   transaction that drops it, since the catalog forgets it then;
//! - the reversal of contract rebuilds the source from that record.
//!
//! The sync triggers and the batched copies in both directions are static SQL that the
//! macro generates from the names alone.

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::session::{short_transaction, Session, StepContext};
use crate::statement::ExecuteOne;
use crate::store;
use crate::versions;
use zdm_plan::sql::quote_ident;
use zdm_plan::{Split, SplitOperation, SplitTarget};

/// The privileges granted on table `$1` to others than its owner, as `GRANT` statements
/// on `$2`.
const GRANTS: &str = "SELECT format('GRANT %s ON %s TO %s%s', p.privilege_type, $2::text, \
        CASE WHEN p.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(p.grantee)) END, \
        CASE WHEN p.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
    FROM pg_class c, aclexplode(c.relacl) AS p \
    WHERE c.oid = to_regclass($1) AND p.grantee <> c.relowner \
    ORDER BY 1";

pub(crate) fn run(session: &mut Session, context: &StepContext, split: &Split) -> Result<u32> {
    match split.operation {
        SplitOperation::CreateTargets => create_targets(session, context, split),
        SplitOperation::DropSource => drop_source(session, context, split),
        SplitOperation::RestoreSource => restore_source(session, context, split),
    }
}

/// A table of the split as SQL names it: qualified when the declaration names the schema,
/// else resolved through the migration's pinned search path.
fn relation(split: &Split, name: &str) -> String {
    zdm_plan::sql::qualified(split.schema.as_deref(), name)
}

/// A column of the source as the catalog describes it.
struct SourceColumn {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
    /// A collation other than the type's default, schema-qualified and quoted.
    collation: Option<String>,
    identity: bool,
    generated: bool,
}

impl SourceColumn {
    /// The column as it appears in `CREATE TABLE`.
    fn definition(&self) -> String {
        let mut definition = format!("{} {}", quote_ident(&self.name), self.ty);
        if let Some(collation) = &self.collation {
            definition.push_str(&format!(" COLLATE {collation}"));
        }
        if let Some(default) = &self.default {
            definition.push_str(&format!(" DEFAULT {default}"));
        }
        if self.not_null {
            definition.push_str(" NOT NULL");
        }
        definition
    }
}

/// Runs `work` in one short transaction under `lock_timeout`, with the step's state update,
/// retrying lock timeouts like every other step. `work` refuses by returning `Ok(Err(…))`:
/// the transaction is then rolled back and the refusal returned.
fn transaction(
    session: &mut Session,
    context: &StepContext,
    mut work: impl FnMut(&mut Transaction<'_>) -> Result<Result<(), Error>, postgres::Error>,
) -> Result<u32> {
    let mut refusal = None;
    let retries = session.with_lock_retries(context, |client, options| {
        refusal = None;
        let mut transaction = short_transaction(client, options)?;
        if let Err(error) = work(&mut transaction)? {
            refusal = Some(error);
            // Dropping the transaction rolls it back.
            return Ok(());
        }
        store::advance_in(&mut transaction, context.state, &context.plan.id, context.index)?;
        transaction.commit()
    })?;
    match refusal {
        Some(error) => Err(error),
        None => Ok(retries),
    }
}

fn drift(context: &StepContext, expected: String, found: String) -> Error {
    Error::Drift {
        migration: context.plan.id.to_string(),
        expected,
        found,
    }
}

fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(quote_ident).collect::<Vec<_>>().join(", ")
}

fn exists(transaction: &mut Transaction<'_>, table_q: &str) -> Result<bool, postgres::Error> {
    Ok(transaction
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table_q])?
        .get(0))
}

fn source_columns(
    transaction: &mut Transaction<'_>,
    table_q: &str,
) -> Result<Vec<SourceColumn>, postgres::Error> {
    let rows = transaction.query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                pg_get_expr(d.adbin, d.adrelid), \
                CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                     THEN format('%I.%I', cn.nspname, co.collname) END, \
                a.attidentity <> '', a.attgenerated <> '' \
         FROM pg_attribute a \
         JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         LEFT JOIN pg_collation co ON co.oid = a.attcollation \
         LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
        &[&table_q],
    )?;
    Ok(rows
        .iter()
        .map(|row| SourceColumn {
            name: row.get(0),
            ty: row.get(1),
            not_null: row.get(2),
            default: row.get(3),
            collation: row.get(4),
            identity: row.get(5),
            generated: row.get(6),
        })
        .collect())
}

/// The primary key's constraint name and columns, in key order.
fn primary_key(
    transaction: &mut Transaction<'_>,
    table_q: &str,
) -> Result<Option<(String, Vec<String>)>, postgres::Error> {
    let rows = transaction.query(
        "SELECT c.conname::text, a.attname::text \
         FROM pg_constraint c \
         JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) ON true \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
         WHERE c.conrelid = to_regclass($1) AND c.contype = 'p' \
         ORDER BY k.position",
        &[&table_q],
    )?;
    Ok(rows
        .first()
        .map(|first| (first.get(0), rows.iter().map(|row| row.get(1)).collect())))
}

/// Why the live source does not fit the declaration, if it does not.
fn layout_problem(
    context: &StepContext,
    split: &Split,
    columns: &[SourceColumn],
    key: Option<&(String, Vec<String>)>,
) -> Option<Error> {
    key_problem(context, split, key)
        .or_else(|| assignment_problem(context, split, columns))
        .or_else(|| special_column_problem(context, split, columns))
}

/// The source must have the primary key the declaration names, which the new tables share.
fn key_problem(context: &StepContext, split: &Split, key: Option<&(String, Vec<String>)>) -> Option<Error> {
    let source_q = relation(split, &split.source);
    let declared_key = quoted_list(split.key.iter().map(|name| &**name));
    match key {
        None => Some(drift(
            context,
            format!("a primary key ({declared_key}) on {source_q}, which the new tables share"),
            "no primary key".to_owned(),
        )),
        Some((_, live)) => {
            let mut live_sorted: Vec<&str> = live.iter().map(String::as_str).collect();
            let mut declared_sorted = split.key.to_vec();
            live_sorted.sort_unstable();
            declared_sorted.sort_unstable();
            (live_sorted != declared_sorted).then(|| {
                drift(
                    context,
                    format!("the primary key of {source_q} to be ({declared_key}), as `key` says"),
                    format!("primary key ({})", quoted_list(live.iter().map(String::as_str))),
                )
            })
        }
    }
}

/// Every column other than the key goes to exactly one new table, since the source is
/// dropped at contract.
fn assignment_problem(context: &StepContext, split: &Split, columns: &[SourceColumn]) -> Option<Error> {
    let source_q = relation(split, &split.source);
    let declared_key = quoted_list(split.key.iter().map(|name| &**name));
    let listed: Vec<&str> = split
        .targets
        .iter()
        .flat_map(|target| target.columns.iter().map(|name| &**name))
        .collect();
    let missing: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|name| !columns.iter().any(|column| column.name == *name))
        .collect();
    let unassigned: Vec<&str> = columns
        .iter()
        .map(|column| column.name.as_str())
        .filter(|name| !split.key.iter().any(|key| key == name) && !listed.contains(name))
        .collect();
    if !missing.is_empty() || !unassigned.is_empty() {
        let mut found = Vec::new();
        if !unassigned.is_empty() {
            found.push(format!(
                "{} in no `into(…)`",
                quoted_list(unassigned.iter().copied())
            ));
        }
        if !missing.is_empty() {
            found.push(format!(
                "{} listed but not in the table",
                quoted_list(missing.iter().copied())
            ));
        }
        return Some(drift(
            context,
            format!(
                "every column of {source_q} other than the key ({declared_key}) listed in exactly one \
                 `into(columns = […])`, since the table is dropped at contract"
            ),
            found.join(", and "),
        ));
    }
    None
}

/// Identity and generated columns refuse the values the sync copies.
fn special_column_problem(context: &StepContext, split: &Split, columns: &[SourceColumn]) -> Option<Error> {
    let source_q = relation(split, &split.source);
    let special: Vec<String> = columns
        .iter()
        .filter_map(|column| {
            let kind = if column.identity {
                "an identity column"
            } else if column.generated {
                "a generated column"
            } else {
                return None;
            };
            Some(format!("{} ({kind})", quote_ident(&column.name)))
        })
        .collect();
    if !special.is_empty() {
        return Some(drift(
            context,
            format!(
                "no identity or generated column in {source_q}: the sync copies every value between \
                 the tables, which such columns refuse, and their sequence or expression would go \
                 with the table; make it a plain column (with a sequence default) first"
            ),
            special.join(", "),
        ));
    }
    None
}

fn create_table_sql(split: &Split, target: &SplitTarget, columns: &[SourceColumn]) -> String {
    let definitions: Vec<String> = split
        .key
        .iter()
        .chain(target.columns.iter())
        .filter_map(|name| columns.iter().find(|column| column.name == *name))
        .map(SourceColumn::definition)
        .collect();
    format!(
        "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
        relation(split, &target.table),
        definitions.join(", "),
        quoted_list(split.key.iter().map(|name| &**name))
    )
}

fn create_targets(session: &mut Session, context: &StepContext, split: &Split) -> Result<u32> {
    let source_q = relation(split, &split.source);
    transaction(session, context, |transaction| {
        // The definition read below stays the definition until the tables are created.
        transaction.execute_one(&format!("LOCK TABLE {source_q} IN ACCESS SHARE MODE"))?;
        let columns = source_columns(transaction, &source_q)?;
        let key = primary_key(transaction, &source_q)?;
        if let Some(problem) = layout_problem(context, split, &columns, key.as_ref()) {
            return Ok(Err(problem));
        }
        for target in split.targets.iter() {
            transaction.execute_one(&create_table_sql(split, target, &columns))?;
            // The new version runs as the roles the old one did.
            let target_q = relation(split, &target.table);
            for row in transaction.query(GRANTS, &[&source_q, &target_q])? {
                transaction.execute_one(row.get(0))?;
            }
        }
        Ok(Ok(()))
    })
}

/// The statements that rebuild `table_q` as it is now, empty: the table with its columns
/// and primary key, its other constraints and indexes, the ownership of its sequences and
/// the privileges granted on it.
fn snapshot(
    transaction: &mut Transaction<'_>,
    table_q: &str,
    qualified: &str,
) -> Result<Vec<String>, postgres::Error> {
    let columns = source_columns(transaction, table_q)?;
    let mut definitions: Vec<String> = columns.iter().map(SourceColumn::definition).collect();
    if let Some(row) = transaction.query_opt(
        "SELECT format('CONSTRAINT %I %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint \
         WHERE conrelid = to_regclass($1) AND contype = 'p'",
        &[&table_q],
    )? {
        definitions.push(row.get(0));
    }
    let mut statements = vec![format!("CREATE TABLE {qualified} ({})", definitions.join(", "))];
    // Each query returns statements; `$1` is the table as written, `$2` its qualified name.
    let queries = [
        // Constraints other than the primary key and NOT NULL; on an empty table each is
        // checked at once, and NOT VALID ones stay NOT VALID.
        "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname, pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype IN ('u', 'c', 'f', 'x') \
         ORDER BY contype, conname",
        // Indexes no constraint stands behind (pg_get_indexdef names the table qualified).
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid = to_regclass($1) AND $2::text IS NOT NULL AND NOT EXISTS ( \
             SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY 1",
        // Sequences the table owns (serial columns), which contract hands to a new table.
        "SELECT format('ALTER SEQUENCE %s OWNED BY %s.%I', d.objid::regclass, $2::text, a.attname) \
         FROM pg_depend d \
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
           AND d.refobjid = to_regclass($1) AND d.deptype = 'a' \
         ORDER BY 1",
        GRANTS,
    ];
    for query in queries {
        for row in transaction.query(query, &[&table_q, &qualified])? {
            statements.push(row.get(0));
        }
    }
    Ok(statements)
}

fn drop_source(session: &mut Session, context: &StepContext, split: &Split) -> Result<u32> {
    let source_q = relation(split, &split.source);
    transaction(session, context, |transaction| {
        if !exists(transaction, &source_q)? {
            return Ok(Err(drift(
                context,
                format!("table {source_q}"),
                "no such table".to_owned(),
            )));
        }
        // The trigger removal comes first: it locks the new tables before the source, in
        // the order the new version's writes lock them, so the two cannot deadlock.
        for statement in split.statements.iter() {
            transaction.execute_one(statement)?;
        }
        transaction.execute_one(&format!("LOCK TABLE {source_q} IN ACCESS EXCLUSIVE MODE"))?;
        // Checked again under the lock: the checks before this step are skipped when a
        // failed contract resumes, and a column added since would be dropped with the table.
        let columns = source_columns(transaction, &source_q)?;
        let key = primary_key(transaction, &source_q)?;
        if let Some(problem) = layout_problem(context, split, &columns, key.as_ref()) {
            return Ok(Err(problem));
        }
        let qualified: String = transaction
            .query_one(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
                &[&source_q],
            )?
            .get(0);
        let statements = snapshot(transaction, &source_q, &qualified)?;
        store::ensure_split_snapshots(transaction, context.state)?;
        transaction.execute(
            &context.state.sql(
                "INSERT INTO {state}.split_snapshots (migration, source, statements) VALUES ($1, $2, $3) \
                 ON CONFLICT (migration) DO UPDATE SET source = EXCLUDED.source, \
                     statements = EXCLUDED.statements, taken_at = now()",
            ),
            &[&context.plan.id, &qualified, &statements],
        )?;
        // A sequence the source owns would be dropped with it, though the new tables'
        // defaults use it: it goes to the first new table holding its column.
        let owned = transaction.query(
            "SELECT d.objid::regclass::text, a.attname::text FROM pg_depend d \
             JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
               AND d.refobjid = to_regclass($1) AND d.deptype = 'a'",
            &[&source_q],
        )?;
        for row in owned {
            let (sequence, column): (String, String) = (row.get(0), row.get(1));
            let holder = split.targets.iter().find(|target| {
                split
                    .key
                    .iter()
                    .chain(target.columns.iter())
                    .any(|name| **name == *column)
            });
            if let Some(target) = holder {
                transaction.execute_one(&format!(
                    "ALTER SEQUENCE {sequence} OWNED BY {}.{}",
                    relation(split, &target.table),
                    quote_ident(&column)
                ))?;
            }
        }
        versions::drop_own_views_over(transaction, context.state, &context.plan.id, &source_q)?;
        transaction.execute_one(&format!("DROP TABLE {qualified}"))?;
        Ok(Ok(()))
    })
}

fn restore_source(session: &mut Session, context: &StepContext, split: &Split) -> Result<u32> {
    let source_q = relation(split, &split.source);
    transaction(session, context, |transaction| {
        // The new tables first, in the order the new version's writes lock them (a write
        // holds its table while it waits for the sequence the rebuild hands back to the
        // source), so the two cannot deadlock; the trigger statements below need this lock.
        let targets: Vec<String> = split
            .targets
            .iter()
            .map(|target| relation(split, &target.table))
            .collect();
        transaction.execute_one(&format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
            targets.join(", ")
        ))?;
        // A source still there was never dropped (contract failed before its last step):
        // only the triggers are missing, if anything.
        if !exists(transaction, &source_q)? {
            let snapshots = context.state.table("split_snapshots");
            let recorded: Option<Vec<String>> = if exists(transaction, &snapshots)? {
                transaction
                    .query_opt(
                        &format!("SELECT statements FROM {snapshots} WHERE migration = $1"),
                        &[&context.plan.id],
                    )?
                    .map(|row| row.get(0))
            } else {
                None
            };
            let Some(statements) = recorded else {
                return Ok(Err(drift(
                    context,
                    format!(
                        "table {source_q}, or the record contract keeps of it in {snapshots} to rebuild it"
                    ),
                    "neither".to_owned(),
                )));
            };
            for statement in &statements {
                transaction.execute_one(statement)?;
            }
        }
        for statement in split.statements.iter() {
            transaction.execute_one(statement)?;
        }
        Ok(Ok(()))
    })
}
