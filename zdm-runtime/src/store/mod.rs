//! The state schema (`zdm` unless [`Options::state_schema`] names another): the one owner
//! of the definition of every table zdm keeps there. The runner's table is created when a
//! runner connects; the tables only some operations need are created by their first use, so
//! a database that never ran such an operation keeps the state schema it had.
//!
//! [`Options::state_schema`]: crate::Options::state_schema

mod migrations;
mod pins;

use postgres::error::SqlState;
use postgres::{Client, GenericClient};

use crate::error::{Error, Result};
use crate::statement::ExecuteOne;
use zdm_plan::names::MAX_IDENTIFIER_BYTES;
use zdm_plan::sql::{quote_ident, substitute, STATE_SCHEMA};

pub(crate) use migrations::{advance, advance_in, begin, checkpoint, finish, load, record_error, restore};
pub use migrations::{Direction, MigrationState};
pub(crate) use pins::{apply as apply_pins, load as load_pins, start as start_pins};

/// The schema zdm keeps its state in, as configured and quoted. Every statement on a state
/// table, zdm's own and the plan's, names it as `{state}`, replaced by [`StateSchema::sql`].
#[derive(Clone, Debug)]
pub(crate) struct StateSchema {
    name: String,
    quoted: String,
}

impl StateSchema {
    /// The schema `name`, refused when PostgreSQL would not keep it as given: it refuses an
    /// empty name and cuts a longer one to 63 bytes, so the schema an administrator made
    /// under the long name would never be found by it.
    pub(crate) fn new(name: &str) -> Result<StateSchema> {
        if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES {
            return Err(Error::StateSchema {
                reason: format!(
                    "the configured state schema name {} is {} bytes long; PostgreSQL names are 1 to {} \
                     bytes",
                    quote_ident(name),
                    name.len(),
                    MAX_IDENTIFIER_BYTES
                ),
                source: None,
            });
        }
        Ok(StateSchema {
            name: name.to_owned(),
            quoted: quote_ident(name),
        })
    }

    /// `sql` with `{state}` replaced by the quoted schema, where it stands as code.
    pub(crate) fn sql(&self, sql: &str) -> String {
        substitute(sql, &[(STATE_SCHEMA, &self.quoted)])
    }

    /// The schema's name, quoted.
    pub(crate) fn quoted(&self) -> &str {
        &self.quoted
    }

    /// `"schema".table`, as `to_regclass` and messages take it.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("{}.{table}", self.quoted)
    }
}

/// The runner's progress, one row per migration.
const MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS {state}.migrations (
    id            text PRIMARY KEY,
    operation     text NOT NULL,
    completed     text,
    running       text,
    direction     text,
    step          integer NOT NULL DEFAULT 0,
    rows_done     bigint NOT NULL DEFAULT 0,
    cursor        text[],
    error         text,
    plan_checksum text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
)";

/// What each migration's names meant: the search path and the relations; see [`pins`].
const PINS: &str = "CREATE TABLE IF NOT EXISTS {state}.pins (
    migration   text PRIMARY KEY,
    search_path text NOT NULL,
    names       text[] NOT NULL,
    relations   oid[] NOT NULL,
    qualified   text[] NOT NULL
)";

/// What a column swap's expand found out about the column, and the objects it carries.
const CARRIED: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS {state}.carried_columns (
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
)",
    "CREATE TABLE IF NOT EXISTS {state}.carried_objects (
    migration          text NOT NULL REFERENCES {state}.carried_columns ON DELETE CASCADE,
    position           integer NOT NULL,
    kind               text NOT NULL,
    name               text NOT NULL,
    carried_name       text NOT NULL,
    definition         text NOT NULL,
    carried_definition text NOT NULL,
    validated          boolean NOT NULL,
    attributes         text NOT NULL,
    PRIMARY KEY (migration, position)
)",
];

/// Where split_table's contract keeps the definition of the tables it drops.
const SPLIT_SNAPSHOTS: &str = "CREATE TABLE IF NOT EXISTS {state}.split_snapshots (
    migration  text PRIMARY KEY,
    source     text NOT NULL,
    statements text[] NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now()
)";

/// Creates what is missing of the state schema. What exists is left alone and not even
/// re-declared: `CREATE SCHEMA IF NOT EXISTS` checks CREATE on the database before it looks
/// whether the schema is there, so a role an administrator made the schema for, without
/// that privilege, would be refused.
pub(crate) fn ensure_schema(client: &mut Client, state: &StateSchema) -> Result<()> {
    // Without USAGE on the schema even looking for the table is refused.
    let row = client
        .query_one(
            "SELECT s.oid IS NOT NULL, s.oid IS NOT NULL AND has_schema_privilege(s.oid, 'USAGE') \
                    AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL \
             FROM (SELECT (SELECT oid FROM pg_namespace WHERE nspname = $1) AS oid) AS s",
            &[&state.name, &state.table("migrations"), &state.table("pins")],
        )
        .map_err(Error::State)?;
    let (schema, table): (bool, bool) = (row.get(0), row.get(1));
    let quoted = &state.quoted;
    if !schema {
        client
            .execute_one(&state.sql("CREATE SCHEMA IF NOT EXISTS {state}"))
            .map_err(|source| match source.code() {
                Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Error::StateSchema {
                    reason: format!(
                        "the schema {quoted} does not exist, and this role may not create schemas in the \
                         database; have an administrator run CREATE SCHEMA {quoted} AUTHORIZATION <this role>"
                    ),
                    source: Some(source),
                },
                _ => Error::State(source),
            })?;
    }
    if !table {
        [MIGRATIONS, PINS]
            .iter()
            .try_for_each(|sql| client.execute_one(&state.sql(sql)))
            .map_err(|source| match source.code() {
                Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Error::StateSchema {
                    reason: format!(
                        "this role may not create tables in the schema {quoted}; grant it USAGE and CREATE \
                         on the schema, or make it the schema's owner"
                    ),
                    source: Some(source),
                },
                _ => Error::State(source),
            })?;
    }
    Ok(())
}

/// Creates the column-swap tables, inside the transaction that first writes them.
pub(crate) fn ensure_carried(
    client: &mut impl GenericClient,
    state: &StateSchema,
) -> Result<(), postgres::Error> {
    CARRIED
        .iter()
        .try_for_each(|sql| client.execute_one(&state.sql(sql)))
}

/// Whether the column-swap tables exist: reads that find none have nothing recorded.
pub(crate) fn has_carried(
    client: &mut impl GenericClient,
    state: &StateSchema,
) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("carried_columns")],
        )?
        .get(0))
}

/// Creates the `split_snapshots` table, inside the transaction that first writes it.
pub(crate) fn ensure_split_snapshots(
    client: &mut impl GenericClient,
    state: &StateSchema,
) -> Result<(), postgres::Error> {
    client.execute_one(&state.sql(SPLIT_SNAPSHOTS))
}
