//! Who may use a version view and how it checks privileges: the table's owner and grants,
//! carried to each view the runtime creates or re-creates.

use postgres::Transaction;

use crate::statement::ExecuteOne;
use zdm_plan::sql::quote_ident;

/// The table's grants (its ACL, not column grants), as statements on the view.
pub(super) fn grants(
    transaction: &mut Transaction<'_>,
    relation: u32,
    view: &str,
) -> Result<Vec<String>, postgres::Error> {
    // The privileges that mean something on a view; the others (TRUNCATE, MAINTAIN …) act
    // on the table and stay with it.
    let rows = transaction.query(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                a.privilege_type, a.is_grantable \
         FROM pg_class c, aclexplode(c.relacl) a \
         WHERE c.oid = $1 AND a.grantee <> c.relowner \
           AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REFERENCES', 'TRIGGER')",
        &[&relation],
    )?;
    Ok(grant_statements(&rows, view))
}

/// `GRANT` statements on `view` from rows of (grantee as SQL names it, privilege, whether
/// grantable), as `aclexplode` gives them.
fn grant_statements(rows: &[postgres::Row], view: &str) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let (grantee, privilege, grantable): (String, String, bool) =
                (row.get(0), row.get(1), row.get(2));
            let option = if grantable { " WITH GRANT OPTION" } else { "" };
            format!("GRANT {privilege} ON {view} TO {grantee}{option}")
        })
        .collect()
}

/// Gives a re-created view the owner and the grants (its own ACL, as text) it had before.
pub(super) fn restore_owner_and_grants(
    transaction: &mut Transaction<'_>,
    view: &str,
    owner: &str,
    acl: Option<&String>,
) -> Result<(), postgres::Error> {
    transaction.execute_one(&format!("ALTER VIEW {view} OWNER TO {}", quote_ident(owner)))?;
    let rows = transaction.query(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                a.privilege_type, a.is_grantable \
         FROM aclexplode($1::text::aclitem[]) a WHERE pg_get_userbyid(a.grantee) IS DISTINCT FROM $2",
        &[&acl, &owner],
    )?;
    for grant in grant_statements(&rows, view) {
        transaction.execute_one(&grant)?;
    }
    Ok(())
}

/// A version view's options: `security_invoker` where the server has it (15 and later), so
/// the view checks the privileges of whoever uses it, as the table does.
pub(super) fn view_options(invoker: bool) -> &'static str {
    if invoker {
        " WITH (security_invoker = true)"
    } else {
        ""
    }
}
