//! The key route: keyset pagination on the primary key (or else a unique index over NOT
//! NULL columns), each batch's upper key found through that index. Every supported server
//! has it.

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::expect;
use crate::session::{Session, StepContext};
use zdm_plan::sql::{quote_ident, quote_literal};

/// A primary-key column: its quoted name and its type as `format_type` prints it.
pub(super) struct KeyColumn {
    pub(super) name: String,
    ty: String,
}

/// The range after `after` holding `batch` keys, and the key that ends it; `None` when
/// fewer keys remain, in which case the range runs to the end of the table.
pub(super) fn next_range(
    transaction: &mut Transaction<'_>,
    table: &str,
    key: &[KeyColumn],
    after: Option<&[String]>,
    batch: u32,
) -> Result<(String, Option<Vec<String>>), postgres::Error> {
    let after = after.map(|values| row_bound(key, ">", values));
    let upper = batch_upper_bound(transaction, table, key, after.as_deref(), batch)?;
    let mut range = after.unwrap_or_else(|| "true".to_owned());
    if let Some(upper) = &upper {
        range = format!("{range} AND {}", row_bound(key, "<=", upper));
    }
    Ok((range, upper))
}

/// The key of the `batch`-th row after `after`, or `None` when fewer rows remain.
fn batch_upper_bound(
    transaction: &mut Transaction<'_>,
    table: &str,
    key: &[KeyColumn],
    after: Option<&str>,
    batch: u32,
) -> Result<Option<Vec<String>>, postgres::Error> {
    // Qualified names: a bare `ORDER BY "id"` would sort by the `"id"::text` output column,
    // in text order.
    let texts = key
        .iter()
        .map(|column| format!("zdm_t.{}::text", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let order = key
        .iter()
        .map(|column| format!("zdm_t.{}", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {texts} FROM {table} AS zdm_t WHERE {} ORDER BY {order} OFFSET {} LIMIT 1",
        after.unwrap_or("true"),
        batch.saturating_sub(1)
    );
    let row = transaction.query_opt(sql.as_str(), &[])?;
    Ok(row.map(|row| (0..key.len()).map(|index| row.get(index)).collect()))
}

/// `"k1", "k2"`: the key's columns, quoted.
pub(super) fn column_list(key: &[KeyColumn]) -> String {
    key.iter()
        .map(|column| column.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(k1, k2) <op> ('v1'::t1, 'v2'::t2)`: a row comparison the primary key index serves.
/// The values were read from the table itself and are passed back as typed literals.
fn row_bound(key: &[KeyColumn], op: &str, values: &[String]) -> String {
    let columns = column_list(key);
    let literals = key
        .iter()
        .zip(values)
        .map(|(column, value)| format!("{}::{}", quote_literal(value), column.ty))
        .collect::<Vec<_>>()
        .join(", ");
    format!("({columns}) {op} ({literals})")
}

/// The key batches page by: the primary key, or else a unique index over NOT NULL
/// columns (see [`expect::batch_key`]).
pub(super) fn primary_key(
    session: &mut Session,
    context: &StepContext,
    table: &str,
) -> Result<Vec<KeyColumn>> {
    let key = expect::batch_key(session.client(), table).map_err(|error| context.failed(error))?;
    if key.is_empty() {
        return Err(Error::Drift {
            migration: context.plan.id.to_string(),
            expected: format!(
                "a primary key or a unique index over NOT NULL columns on {table} to paginate the backfill by"
            ),
            found: "neither".to_owned(),
        });
    }
    Ok(key
        .into_iter()
        .map(|(name, ty)| KeyColumn {
            name: quote_ident(&name),
            ty,
        })
        .collect())
}
