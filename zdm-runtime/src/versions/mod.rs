//! Version schemas: the schema of views through which the new application version sees
//! the tables a migration changes under their final names (see [`zdm_plan::Presented`]).
//! Built at the end of expand from the catalog, recorded column by column in the state
//! schema (`version_columns`, by attribute number, so a later rebuild finds each column
//! whatever it has been renamed to), and dropped before expand is reverted.
//!
//! The views select plain columns of one table, so PostgreSQL makes them auto-updatable
//! (INSERT, UPDATE, DELETE, `ON CONFLICT`, `RETURNING`, and the table's defaults for omitted
//! columns). They name columns by attribute number, so a phase that renames a column the
//! view shows (change_type's contract and its reversal) leaves every view column's name,
//! type and position as they were, and prepared statements of the new version keep their
//! plans' result types.

mod access;
mod repoint;
mod retire;

use postgres::{Client, Transaction};

use crate::error::{Error, Result};
use crate::session::{Options, Session};
use crate::statement::ExecuteOne;
use crate::store::{Direction, StateSchema};

use access::{grants, restore_owner_and_grants, view_options};
use repoint::rebuild;
use repoint::restore_sources;
pub(crate) use repoint::{around_type_change, repoint, shows};
use retire::{restore_retired, retire_earlier};
use zdm_plan::names;
use zdm_plan::sql::quote_ident;
use zdm_plan::{Phase, Plan, Presented};

/// What a phase's run does to version schemas before its steps: a reversal that would
/// break a running new version is refused; reverting expand first drops the views (they use
/// the columns it drops); a contract first retires earlier migrations' views over its tables.
pub(crate) fn before_phase(
    session: &mut Session,
    state: &StateSchema,
    plan: &Plan,
    (phase, direction): (Phase, Direction),
    resumed: bool,
) -> Result<()> {
    let options = session.options().clone();
    let client = session.client();
    if direction == Direction::Reverse && !resumed {
        check_reversal(client, plan, phase, &options)?;
    }
    match (phase, direction) {
        (Phase::Expand, Direction::Reverse) => withdraw(client, state, plan),
        (Phase::Contract, Direction::Forward) => retire_earlier(client, state, plan),
        _ => Ok(()),
    }
}

/// What a phase's run does to version schemas after its steps: expand builds them; a
/// reverted contract shows the sources again and puts back the views its contract retired.
pub(crate) fn after_phase(
    session: &mut Session,
    state: &StateSchema,
    plan: &Plan,
    (phase, direction): (Phase, Direction),
) -> Result<()> {
    let options = session.options().clone();
    let client = session.client();
    match (phase, direction) {
        (Phase::Expand, Direction::Forward) => present(client, state, plan, &options),
        (Phase::Contract, Direction::Reverse) => {
            restore_sources(client, state, plan)?;
            restore_retired(client, state, plan)?;
            present_rebuilt(client, state, plan, &options)
        }
        _ => Ok(()),
    }
}

/// Refuses to revert `phase` while the new version may still write through the version
/// schema, unless the caller says it has stopped: reverting sync would stop copying its
/// writes to the columns the old version reads, reverting expand drops the views it writes
/// through (so its statements would fall through the search path to the tables of the old
/// shape and write values of one type into a column of another).
fn check_reversal(client: &mut Client, plan: &Plan, phase: Phase, options: &Options) -> Result<()> {
    if plan.presents.is_empty() || options.new_version_stopped || phase == Phase::Backfill {
        return Ok(());
    }
    // A sync that did nothing (drop_column without `down`) copies nothing to stop copying.
    if phase == Phase::Sync && plan.phase(Phase::Sync).reverse.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let exists = if phase == Phase::Contract {
        // Reverting a contract re-points the views, so the new version keeps its shape;
        // with one dropped (`drop-version-schema`, or a later contract) it addresses the
        // table, which the reversal gives the old shape. A table the contract dropped
        // (split_table's source) gets its view back with it.
        let tables: Vec<&str> = plan.presents.iter().map(|presented| &*presented.table).collect();
        client
            .query_one(
                "SELECT bool_and(EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = to_regnamespace($1) \
                                         AND c.relname = t.relname)) \
                 FROM (SELECT relname FROM pg_class \
                       WHERE oid IN (SELECT to_regclass(t) FROM unnest($2::text[]) AS t)) AS t",
                &[&schema, &tables],
            )
            .map_err(Error::Catalog)?
            .get::<_, Option<bool>>(0)
            .unwrap_or(true)
    } else {
        has_views(client, &schema)?
    };
    let (what, who) = match (phase, exists) {
        (Phase::Contract, true) | (Phase::Sync | Phase::Expand, false) => return Ok(()),
        (Phase::Contract, false) => (
            format!("gives the tables the old shape, and {schema}, through which the new version would keep its shape, has no views"),
            "of the new shape".to_owned(),
        ),
        (Phase::Sync, true) => (
            "stops copying what the new version writes through the version schema to the columns the old version reads"
                .to_owned(),
            format!("with {schema} on its search_path"),
        ),
        _ => (
            "drops the version schema the new version reads and writes through".to_owned(),
            format!("with {schema} on its search_path"),
        ),
    };
    Err(Error::Refused {
        migration: plan.id.to_string(),
        before: "any change".to_owned(),
        reason: format!(
            "reverting {phase} {what}; stop every application version {who}, then \
             revert with --new-version-stopped (Options::new_version_stopped)"
        ),
    })
}

/// One row per column of each version view. `retired_by`: the later migration whose
/// contract dropped the view, which its reversal re-creates from the column names, owner and
/// ACL kept here (attribute numbers change when a reversal re-adds a column).
const VERSION_COLUMNS: &str = "CREATE TABLE IF NOT EXISTS {state}.version_columns (
    migration  text NOT NULL,
    schema     text NOT NULL,
    view       text NOT NULL,
    relation   oid NOT NULL,
    position   integer NOT NULL,
    name       text NOT NULL,
    attnum     smallint NOT NULL,
    created    timestamptz NOT NULL DEFAULT clock_timestamp(),
    retired_by text,
    attname    text,
    owner      text,
    acl        text,
    PRIMARY KEY (migration, view, position)
)";

/// The table's highest attribute number when the view was built: a column numbered above
/// it came after the view (a later migration's), one at or below it that the view does not
/// show is that migration's transition column, which a later view keeps hidden.
const VERSION_COLUMNS_LAST_ATTNUM: &str =
    "ALTER TABLE {state}.version_columns ADD COLUMN IF NOT EXISTS last_attnum smallint";

/// Whether the version schema `schema` holds any view: what tells that an application
/// version may be addressing the tables through it.
pub(crate) fn has_views(client: &mut Client, schema: &str) -> Result<bool> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'v')",
            &[&schema],
        )
        .map_err(Error::Catalog)?
        .get(0))
}

/// Brings a `version_columns` made by an earlier release up to the columns this one
/// records (both statements do nothing once it has them).
fn upgrade_version_columns(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
) -> Result<(), postgres::Error> {
    transaction.execute_one(&state.sql(VERSION_COLUMNS_LAST_ATTNUM))?;
    transaction.execute_one(&state.sql(VERSION_COLUMNS_SOURCE))
}

/// The table a retired view selected from, as SQL names it: a contract's reversal that
/// rebuilds the table (split_table's) gives it a new object id, which the view's record
/// then takes from the name.
const VERSION_COLUMNS_SOURCE: &str =
    "ALTER TABLE {state}.version_columns ADD COLUMN IF NOT EXISTS source text";

/// Presents again the tables a reverted contract rebuilt (split_table's source, whose view
/// its contract dropped with it): every presented table the version schema has no view
/// of, while the schema is there (`drop-version-schema` took it away for good otherwise).
fn present_rebuilt(client: &mut Client, state: &StateSchema, plan: &Plan, options: &Options) -> Result<()> {
    let schema = names::version_schema(&plan.id);
    let mut missing = false;
    for presented in plan.presents.iter() {
        let row = client
            .query_one(
                "SELECT to_regnamespace($1) IS NOT NULL, \
                        EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = to_regnamespace($1) \
                                AND c.relname = (SELECT relname FROM pg_class WHERE oid = to_regclass($2)))",
                &[&schema, &&*presented.table],
            )
            .map_err(Error::Catalog)?;
        let (schema_exists, view_exists): (bool, bool) = (row.get(0), row.get(1));
        missing |= schema_exists && !view_exists;
    }
    if missing {
        present(client, state, plan, options)?;
    }
    Ok(())
}

/// Drops `migration`'s version views over `table` and their record, in the transaction
/// that drops the table (split_table's contract); a reverted contract presents it again.
pub(crate) fn drop_own_views_over(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    migration: &str,
    table: &str,
) -> Result<(), postgres::Error> {
    if !recorded(transaction, state)? {
        return Ok(());
    }
    let views: Vec<(String, String)> = transaction
        .query(
            &state.sql(
                "DELETE FROM {state}.version_columns WHERE migration = $1 AND relation = to_regclass($2) \
                 RETURNING schema, view",
            ),
            &[&migration, &table],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut views = views;
    views.sort();
    views.dedup();
    for (schema, view) in views {
        transaction.execute_one(&format!(
            "DROP VIEW IF EXISTS {}.{}",
            quote_ident(&schema),
            quote_ident(&view)
        ))?;
    }
    Ok(())
}

/// Creates (or re-creates, on a resumed expand) the version schema of `plan` and a view
/// per table it presents, in one transaction.
fn present(client: &mut Client, state: &StateSchema, plan: &Plan, options: &Options) -> Result<()> {
    if plan.presents.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let mut transaction = client.transaction().map_err(Error::State)?;
    let failed = |source| step_failed(plan, &schema, source);
    transaction
        .execute_one(&format!(
            "SET LOCAL lock_timeout = {}",
            options.lock_timeout.as_millis()
        ))
        .map_err(failed)?;
    transaction
        .execute_one(&state.sql(VERSION_COLUMNS))
        .map_err(failed)?;
    upgrade_version_columns(&mut transaction, state).map_err(failed)?;
    transaction
        .execute(
            &state.sql("DELETE FROM {state}.version_columns WHERE migration = $1"),
            &[&&*plan.id],
        )
        .map_err(failed)?;
    // USAGE alone reads nothing: every view carries its table's own grants.
    let schema_q = quote_ident(&schema);
    // Looked up first: `CREATE SCHEMA IF NOT EXISTS` wants CREATE on the database even
    // when the schema is there, and an administrator may have made it for a role without.
    let exists: bool = transaction
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .map_err(failed)?
        .get(0);
    if !exists {
        transaction
            .execute_one(&format!("CREATE SCHEMA {schema_q}"))
            .map_err(failed)?;
    }
    transaction
        .execute_one(&format!("GRANT USAGE ON SCHEMA {schema_q} TO PUBLIC"))
        .map_err(failed)?;
    for presented in plan.presents.iter() {
        create_view(&mut transaction, state, plan, &schema, presented).map_err(failed)?;
    }
    transaction.commit().map_err(failed)
}

pub(super) fn step_failed(plan: &Plan, schema: &str, source: postgres::Error) -> Error {
    Error::Step {
        migration: plan.id.to_string(),
        step: format!("build the version schema {schema}"),
        message: crate::error::describe(&source),
        source,
    }
}

/// One view: the table's columns in order, each presented column from its source at the
/// position of the column it replaces, owned by the table's owner and granted like it.
fn create_view(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    plan: &Plan,
    schema: &str,
    presented: &Presented,
) -> Result<(), postgres::Error> {
    let table = transaction.query_one(
        "SELECT c.oid, c.relname::text, n.nspname::text, pg_get_userbyid(c.relowner)::text, \
                current_setting('server_version_num')::int >= 150000 \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        &[&&*presented.table],
    )?;
    let (relation, view, table_schema, owner, invoker): (u32, String, String, String, bool) = (
        table.get(0),
        table.get(1),
        table.get(2),
        table.get(3),
        table.get(4),
    );
    let attributes: Vec<(i16, String)> = transaction
        .query(
            "SELECT attnum, attname::text FROM pg_attribute \
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&relation],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let last_attnum: i16 = transaction
        .query_one(
            "SELECT max(attnum) FROM pg_attribute WHERE attrelid = $1 AND attnum > 0",
            &[&relation],
        )?
        .get(0);
    let seen = as_seen_before(transaction, state, plan, relation, &attributes)?;
    let columns = view_columns(presented, &attributes, &seen);
    let select: Vec<String> = columns
        .iter()
        .map(|(name, attnum)| {
            let source = &attributes
                .iter()
                .find(|(number, _)| number == attnum)
                .expect("a column of the table")
                .1;
            format!("{} AS {}", quote_ident(source), quote_ident(name))
        })
        .collect();
    let view_q = format!("{}.{}", quote_ident(schema), quote_ident(&view));
    transaction.execute_one(&format!(
        "CREATE OR REPLACE VIEW {view_q}{} AS SELECT {} FROM {}.{}",
        view_options(invoker),
        select.join(", "),
        quote_ident(&table_schema),
        quote_ident(&view)
    ))?;
    transaction.execute_one(&format!("ALTER VIEW {view_q} OWNER TO {}", quote_ident(&owner)))?;
    for grant in grants(transaction, relation, &view_q)? {
        transaction.execute_one(&grant)?;
    }
    record_columns(
        transaction,
        state,
        plan,
        (schema, &view, relation),
        &columns,
        last_attnum,
    )
}

/// Records the view's columns, so later phases re-point and rebuild it.
fn record_columns(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    plan: &Plan,
    (schema, view, relation): (&str, &str, u32),
    columns: &[(String, i16)],
    last_attnum: i16,
) -> Result<(), postgres::Error> {
    for (position, (name, attnum)) in columns.iter().enumerate() {
        transaction.execute(
            &state.sql(
                "INSERT INTO {state}.version_columns \
                 (migration, schema, view, relation, position, name, attnum, last_attnum) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            &[
                &&*plan.id,
                &schema,
                &view,
                &relation,
                &(position as i32),
                name,
                attnum,
                &last_attnum,
            ],
        )?;
    }
    Ok(())
}

/// The table's columns as the version before this one sees them, as (name, attribute
/// number): the columns of the newest other migration's view of the table still in place,
/// if one is recorded, in its order and under its names (so a view over a table another
/// migration has in flight presents the shape after both: that migration's presented names,
/// its transition columns hidden, a column it swapped in at its old place), then the columns
/// added after that view was built; otherwise the table's columns as they are.
fn as_seen_before(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
    plan: &Plan,
    relation: u32,
    attributes: &[(i16, String)],
) -> Result<Vec<(String, i16)>, postgres::Error> {
    let earlier: Vec<(String, i16, Option<i16>)> = transaction
        .query(
            &state.sql(
                "SELECT name, attnum, last_attnum FROM {state}.version_columns WHERE relation = $1 AND migration = \
                 (SELECT migration FROM {state}.version_columns WHERE relation = $1 AND migration <> $2 \
                  AND retired_by IS NULL ORDER BY created DESC LIMIT 1) ORDER BY position",
            ),
            &[&relation, &&*plan.id],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let Some(&(_, _, last_attnum)) = earlier.first() else {
        return Ok(attributes
            .iter()
            .map(|(attnum, attname)| (attname.clone(), *attnum))
            .collect());
    };
    // A view recorded before last_attnum was: every column it does not show came after it.
    let last_attnum = last_attnum.unwrap_or(0);
    let mut seen: Vec<(String, i16)> = earlier
        .iter()
        .filter(|(_, attnum, _)| attributes.iter().any(|(number, _)| number == attnum))
        .map(|(name, attnum, _)| (name.clone(), *attnum))
        .collect();
    seen.extend(
        attributes
            .iter()
            .filter(|(attnum, _)| {
                *attnum > last_attnum && !earlier.iter().any(|(_, shown, _)| shown == attnum)
            })
            .map(|(attnum, attname)| (attname.clone(), *attnum)),
    );
    Ok(seen)
}

/// The view's columns as (name, attribute number of the table column shown), from the
/// columns as the version before sees them: a presented column in the place of the column
/// it stands instead of; its source and any table column of its name are hidden, being the
/// transition's.
fn view_columns(
    presented: &Presented,
    attributes: &[(i16, String)],
    seen: &[(String, i16)],
) -> Vec<(String, i16)> {
    let attnum = |name: &str| {
        attributes
            .iter()
            .find(|(_, attname)| attname == name)
            .map(|(number, _)| *number)
    };
    let attname = |number: i16| {
        attributes
            .iter()
            .find(|(attnum, _)| *attnum == number)
            .map_or("", |(_, attname)| attname.as_str())
    };
    let mut columns = Vec::new();
    for (name, number) in seen {
        let table_column = attname(*number);
        if presented.hidden.iter().any(|hidden| *hidden == table_column) {
            continue;
        }
        if let Some(column) = presented.columns.iter().find(|column| column.instead_of == *name) {
            columns.push((column.name.to_string(), attnum(&column.source).unwrap_or(*number)));
        } else if !presented
            .columns
            .iter()
            .any(|column| column.source == table_column || column.name == table_column)
        {
            columns.push((name.clone(), *number));
        }
    }
    columns
}

/// Whether the state schema has the record of version views yet (the first expand that
/// presents something creates it).
pub(super) fn recorded(
    transaction: &mut Transaction<'_>,
    state: &StateSchema,
) -> Result<bool, postgres::Error> {
    Ok(transaction
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("version_columns")],
        )?
        .get(0))
}

/// Drops `plan`'s version schema once no version uses it (the `drop-version-schema`
/// command, after contract); says whether it had views.
pub(crate) fn drop_version_schema(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<bool> {
    let schema = names::version_schema(&plan.id);
    let had_views: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1)",
            &[&schema],
        )
        .map_err(Error::Catalog)?
        .get(0);
    withdraw(client, state, plan)?;
    Ok(had_views)
}

/// Drops the views of `plan`'s version schema (those a later contract retired too, so its
/// reversal does not bring them back), the schema, and their record: the first thing
/// reverting expand does, since the views depend on the columns it drops.
fn withdraw(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<()> {
    if plan.presents.is_empty() {
        return Ok(());
    }
    let schema = names::version_schema(&plan.id);
    let failed = |source| step_failed(plan, &schema, source);
    let mut transaction = client.transaction().map_err(Error::State)?;
    let recorded: bool = transaction
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("version_columns")],
        )
        .map_err(failed)?
        .get(0);
    if recorded {
        let views: Vec<String> = transaction
            .query(
                &state.sql("SELECT DISTINCT view FROM {state}.version_columns WHERE migration = $1"),
                &[&&*plan.id],
            )
            .map_err(failed)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for view in views {
            transaction
                .execute_one(&format!(
                    "DROP VIEW IF EXISTS {}.{}",
                    quote_ident(&schema),
                    quote_ident(&view)
                ))
                .map_err(failed)?;
        }
        transaction
            .execute(
                &state.sql("DELETE FROM {state}.version_columns WHERE migration = $1"),
                &[&&*plan.id],
            )
            .map_err(failed)?;
    }
    // Without CASCADE: anything else someone put there is theirs, and the error names it.
    // A schema an administrator made for a role that may not create one stays, empty, for
    // the next expand.
    transaction
        .execute_one(&format!(
            "DO $$ BEGIN IF has_database_privilege(current_database(), 'CREATE') THEN \
             DROP SCHEMA IF EXISTS {}; END IF; END $$",
            quote_ident(&schema)
        ))
        .map_err(failed)?;
    transaction.commit().map_err(failed)
}
