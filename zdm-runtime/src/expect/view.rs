//! Views zdm puts in place of a renamed table: the check that a view is still the one zdm
//! created before it is dropped.

use postgres::Client;

use crate::error::{Error, Result};
use zdm_plan::Plan;

/// Checks that `view` is a view whose query reads `table` and no other relation, or that
/// nothing of that name exists any more (it was dropped already). Both names quoted.
pub(crate) fn check_view_of_table_or_absent(
    client: &mut Client,
    plan: &Plan,
    view: &str,
    table: &str,
) -> Result<()> {
    // The view's _RETURN rule depends on every relation its query reads.
    let row = client
        .query_opt(
            "SELECT c.relkind::text, \
                    array(SELECT DISTINCT d.refobjid::regclass::text \
                          FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                          WHERE r.ev_class = c.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid \
                          ORDER BY 1), \
                    array(SELECT DISTINCT d.refobjid \
                          FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                          WHERE r.ev_class = c.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid) \
                      = array[to_regclass($2)::oid] \
             FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&view, &table],
        )
        .map_err(Error::Catalog)?;
    let Some(row) = row else {
        return Ok(());
    };
    let kind: String = row.get(0);
    let reads: Vec<String> = row.get(1);
    let only_table: Option<bool> = row.get(2);
    if kind == "v" && only_table == Some(true) {
        return Ok(());
    }
    let found = if kind == "v" {
        format!("a view of that name reading {}", list(&reads))
    } else {
        format!("a {} of that name", super::index::relation_kind(&kind))
    };
    Err(Error::Drift {
        migration: plan.id.to_string(),
        expected: format!("{view} to be the view over {table} that zdm created, or gone"),
        found,
    })
}

fn list(relations: &[String]) -> String {
    if relations.is_empty() {
        "no table".to_owned()
    } else {
        relations.join(", ")
    }
}
