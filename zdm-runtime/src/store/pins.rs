//! The `pins` state table: what a migration's names meant when it ran. The search path expand ran with
//! is set again for every later phase and reversal, so a session with another path acts on
//! the same tables; and each table name the plan uses is recorded with the relation it
//! named after each phase, so a name that has come to mean another relation since (a table
//! of that name made earlier on the path, a table dropped and made again) is refused
//! before any change.

use postgres::{Client, GenericClient};

use super::StateSchema;
use crate::error::{Error, Result};
use zdm_plan::Plan;

/// What a migration recorded of its names.
pub(crate) struct Pins {
    pub(crate) search_path: String,
    /// Each name with the table it named, by OID (0: none, or not a table: views and the
    /// like have checks of their own) and schema-qualified.
    relations: Vec<(String, u32, String)>,
}

/// Every table name a plan's steps act on, each once, with the state schema filled in.
fn names(plan: &Plan, state: &StateSchema) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for phase in &plan.phases {
        for step in phase.forward.iter().chain(phase.reverse.iter()) {
            if let Some(table) = &step.table {
                let table = state.sql(table);
                if !names.contains(&table) {
                    names.push(table);
                }
            }
        }
    }
    names
}

pub(crate) fn load(client: &mut Client, state: &StateSchema, migration: &str) -> Result<Option<Pins>> {
    let row = client
        .query_opt(
            &state.sql(
                "SELECT search_path, names, relations, qualified FROM {state}.pins WHERE migration = $1",
            ),
            &[&migration],
        )
        .map_err(Error::State)?;
    Ok(row.map(|row| {
        let names: Vec<String> = row.get(1);
        let relations: Vec<u32> = row.get(2);
        let qualified: Vec<String> = row.get(3);
        Pins {
            search_path: row.get(0),
            relations: names
                .into_iter()
                .zip(relations)
                .zip(qualified)
                .map(|((name, relation), qualified)| (name, relation, qualified))
                .collect(),
        }
    }))
}

/// Records the session's search path and the plan's names with what they mean now, when a
/// migration starts (again, after a full reversal or a refused expand).
pub(crate) fn start(client: &mut Client, state: &StateSchema, plan: &Plan) -> Result<()> {
    client
        .execute(
            &state.sql("INSERT INTO {state}.pins (migration, search_path, names, relations, qualified) \
             VALUES ($1, current_setting('search_path'), $2, '{}', '{}') \
             ON CONFLICT (migration) DO UPDATE SET search_path = EXCLUDED.search_path, names = EXCLUDED.names"),
            &[&&*plan.id, &names(plan, state)],
        )
        .map_err(Error::State)?;
    refresh_in(client, state, &plan.id).map_err(Error::State)
}

/// Records what the names mean now, inside the transaction of the step that may have
/// changed it (`rename_table` moves a name to its view), so the record is never behind the
/// catalog. Nothing for a migration without a record.
pub(crate) fn refresh_in(
    client: &mut impl GenericClient,
    state: &StateSchema,
    migration: &str,
) -> Result<(), postgres::Error> {
    client
        .execute(
            &state.sql("UPDATE {state}.pins AS p SET relations = r.relations, qualified = r.qualified \
             FROM (SELECT coalesce(array_agg(coalesce(c.oid, 0) ORDER BY n.position), '{}') AS relations, \
                          coalesce(array_agg(CASE WHEN c.oid IS NULL THEN '' \
                              ELSE format('%I.%I', s.nspname, c.relname) END ORDER BY n.position), '{}') AS qualified \
                   FROM {state}.pins AS q \
                   CROSS JOIN LATERAL unnest(q.names) WITH ORDINALITY AS n(name, position) \
                   LEFT JOIN pg_class c ON c.oid = to_regclass(n.name) AND c.relkind IN ('r', 'p') \
                   LEFT JOIN pg_namespace s ON s.oid = c.relnamespace \
                   WHERE q.migration = $1) AS r \
             WHERE p.migration = $1"),
            &[&migration],
        )
        .map(drop)
}

/// Sets the recorded search path, then refuses if a recorded name now means another
/// relation. A name that means nothing now is no conflict: the migration itself may have
/// dropped or renamed it.
pub(crate) fn apply(client: &mut Client, plan: &Plan, pins: &Pins) -> Result<()> {
    client
        .execute(
            "SELECT set_config('search_path', $1, false)",
            &[&pins.search_path],
        )
        .map_err(Error::State)?;
    for (name, relation, qualified) in pins.relations.iter().filter(|(_, relation, _)| *relation != 0) {
        let now = client
            .query_opt(
                "SELECT c.oid, format('%I.%I', s.nspname, c.relname) FROM pg_class c \
                 JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
                &[&name],
            )
            .map_err(Error::State)?;
        if let Some(row) = now {
            let (oid, now_qualified): (u32, String) = (row.get(0), row.get(1));
            if oid != *relation {
                return Err(Error::Refused {
                    migration: plan.id.to_string(),
                    before: "any change".to_owned(),
                    reason: format!(
                        "{name} now names {now_qualified} (oid {oid}), not {qualified} (oid {relation}), the \
                         relation this migration has worked on; zdm acts only on the relations it began with"
                    ),
                });
            }
        }
    }
    Ok(())
}
