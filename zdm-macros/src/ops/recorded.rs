//! What a catalog-only change overwrites (a default, an index's or a constraint's definition,
//! a replica identity), recorded in the state schema in the transaction that overwrites it,
//! so that a reversal puts back exactly what was there, not what the declaration guessed.
//!
//! A reversal reads the record into a transaction-local setting and a `DO` block acts on
//! it: the runner fills `{state}` in SQL code but never inside a string, which the body of
//! a `DO` block is.

use std::fmt;

use crate::sql::{dollar_quote, quote_ident, quote_literal, STATE_SCHEMA};
use zdm_plan::names;
use zdm_plan::{Lock, Step};

/// The setting a loaded record travels in, from [`CatalogRecord::load`] to [`with_recorded`].
const SETTING: &str = "zdm.recorded";

/// `{state}."<id>_catalog"`: one row per recorded item, its definition NULL when there was
/// nothing (no default).
pub struct CatalogRecord {
    table: String,
    name: String,
}

impl fmt::Display for CatalogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in the state schema", self.name)
    }
}

pub fn record(id: &str) -> CatalogRecord {
    let name = quote_ident(&names::catalog_record(id));
    CatalogRecord {
        table: format!("{STATE_SCHEMA}.{name}"),
        name,
    }
}

impl CatalogRecord {
    fn create(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (item text PRIMARY KEY, definition text)",
            self.table
        )
    }

    /// Creates the record if need be and keeps `definition` (an SQL expression of type
    /// text, read from the catalog) as `item`; a definition kept before is not replaced:
    /// it is the one the change found.
    pub fn keep(&self, item: &str, definition: &str) -> [String; 2] {
        [
            self.create(),
            format!(
                "INSERT INTO {} (item, definition) SELECT {}, ({definition}) ON CONFLICT (item) DO NOTHING",
                self.table,
                quote_literal(item)
            ),
        ]
    }

    /// Loads `item` for a following [`with_recorded`] block of the same transaction; the
    /// record is created empty if it never was, so a reversal that finds nothing recorded
    /// restores nothing.
    pub fn load(&self, item: &str) -> [String; 2] {
        [
            self.create(),
            format!(
                "SELECT set_config({}, coalesce((SELECT to_jsonb(zdm_r)::text FROM {} AS zdm_r WHERE zdm_r.item = {}), ''), true)",
                quote_literal(SETTING),
                self.table,
                quote_literal(item)
            ),
        ]
    }

    /// A query of `expression` (over the record's row, `zdm_r`) for `item`, where
    /// `condition` holds if one is given: no row when nothing was recorded.
    pub fn select(&self, item: &str, expression: &str, condition: Option<&str>) -> String {
        let condition = condition
            .map(|condition| format!(" AND ({condition})"))
            .unwrap_or_default();
        format!(
            "SELECT {expression} FROM {} AS zdm_r WHERE zdm_r.item = {}{condition}",
            self.table,
            quote_literal(item)
        )
    }

    /// Drops the record; safe when it is gone already.
    pub fn forget(&self) -> Step {
        Step::transaction(
            format!("drop {self}"),
            Lock::AccessExclusive,
            &self.table,
            [format!("DROP TABLE IF EXISTS {}", self.table)],
        )
    }
}

/// A `DO` block running `body` (PL/pgSQL) with `definition text` holding the definition
/// [`CatalogRecord::load`] loaded; when nothing was recorded the block does nothing.
pub fn with_recorded(body: &str) -> String {
    format!(
        "DO {}",
        dollar_quote(&format!(
            "\nDECLARE\n  zdm_record jsonb := nullif(current_setting({}, true), '')::jsonb;\n  \
             definition text := zdm_record ->> 'definition';\nBEGIN\n  IF zdm_record IS NULL THEN\n    RETURN;\n  \
             END IF;\n{body}\nEND\n",
            quote_literal(SETTING)
        ))
    )
}

/// A precondition only the catalog can answer, refused before any change: `holds` is an
/// SQL condition; when it is false the error says `expectation` and shows `found` (an SQL
/// expression of type text saying what is there instead).
pub fn catalog_holds(expectation: String, holds: &str, found: &str) -> Step {
    Step::check(
        format!("check that {expectation}"),
        Lock::None,
        None,
        zdm_plan::Check::new(
            expectation,
            format!("SELECT count(*) FROM (SELECT 1) AS zdm_probe WHERE NOT ({holds})"),
            format!("SELECT ({found})::text"),
        ),
    )
}

/// The OID of `relation` (as SQL names it, quoted) as a `regclass` expression, NULL when
/// there is none.
pub fn regclass(relation: &str) -> String {
    format!("to_regclass({})", quote_literal(relation))
}
