//! The refusal rules of a column swap: each a named function that says why a table, a
//! column or an object depending on it cannot be carried safely, in the words the refusal
//! shows. Inspect applies every rule and reports every refusal at once.

use postgres::Transaction;

use super::facts::{Column, Dependent, Relation};
use super::record::ObjectKind;
use zdm_plan::names;

/// A rule over the table: `Some(reason)` refuses.
type TableRule = fn(&Relation) -> Option<String>;

/// A rule over the column; `label` is the column's name, quoted.
type ColumnRule = fn(&Column, &str) -> Option<String>;

/// The table rules, in the order their refusals are listed.
pub(super) const TABLE_RULES: &[TableRule] = &[partitioned, inherits];

/// The column rules, in the order their refusals are listed.
pub(super) const COLUMN_RULES: &[ColumnRule] = &[identity, generated, column_privileges];

/// A swap on a partitioned table would have to reach every partition, each with its own
/// locks and indexes; zdm does not do that.
fn partitioned(relation: &Relation) -> Option<String> {
    (relation.kind == "p")
        .then(|| "the table is partitioned; zdm does not swap columns of partitioned tables".to_owned())
}

/// Dropping the column of a parent or child would leave the column on the rest of the
/// hierarchy, or fail.
fn inherits(relation: &Relation) -> Option<String> {
    relation.inherits.then(|| {
        "the table takes part in inheritance; its parents or children would keep the old column".to_owned()
    })
}

/// An identity column's sequence belongs to it and cannot be handed to another column.
fn identity(column: &Column, label: &str) -> Option<String> {
    (!column.identity.is_empty())
        .then(|| format!("{label} is an identity column, whose sequence cannot move to another column"))
}

/// A generated column's values are computed, not written, so there is nothing to copy.
fn generated(column: &Column, label: &str) -> Option<String> {
    (!column.generated.is_empty()).then(|| format!("{label} is a generated column"))
}

/// Column-level grants would be dropped with the old column and not given to the new one.
fn column_privileges(column: &Column, label: &str) -> Option<String> {
    column.has_privileges.then(|| {
        format!(
            "{label} has column-level privileges (GRANT … ({label})), which zdm does not carry; \
             revoke them and grant them on the new column after contract"
        )
    })
}

/// The table's own row triggers whose function's body mentions the column (as a word,
/// in any case), other than those whose `UPDATE OF` or `WHEN` names it, which `judge`
/// refuses already. zdm cannot read what such a function does: a backfill fires it on
/// every row (a `NEW.email := lower(NEW.email)` makes the two columns differ), and after
/// contract a function still naming a dropped column fails every write. The declaration's
/// `triggers_checked` says the user has looked.
pub(super) fn user_triggers(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    column: &Column,
    label: &str,
    name: &str,
    renamed: bool,
) -> Result<Vec<String>, postgres::Error> {
    let rows = transaction.query(
        "SELECT quote_ident(t.tgname), p.oid::regprocedure::text, p.prosrc FROM pg_trigger t \
         JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE t.tgrelid = $1 AND NOT t.tgisinternal AND t.tgtype & 1 = 1 \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_trigger'::regclass \
                           AND d.objid = t.oid AND d.refobjid = $1 AND d.refobjsubid = $2) \
         ORDER BY t.tgname",
        &[&relation.id, &i32::from(column.attnum)],
    )?;
    let after = if renamed {
        format!("once contract drops {label}")
    } else {
        format!("once contract swaps in the new {label}")
    };
    Ok(rows
        .iter()
        .filter(|row| mentions(row.get(2), name))
        .map(|row| {
            let (trigger, function): (&str, &str) = (row.get(0), row.get(1));
            format!(
                "the trigger {trigger} runs {function}, whose body mentions {label}: the backfill fires it on \
                 every row, and zdm cannot tell whether it keeps both columns alike, nor whether it still \
                 works {after}; check the function (and change it if needed), then declare `triggers_checked`"
            )
        })
        .collect())
}

/// Whether `body` has `name` as a word of its own, in any case: `email` but not `email_addr`.
fn mentions(body: &str, name: &str) -> bool {
    let body = body.to_lowercase();
    let name = name.to_lowercase();
    let part_of_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    body.match_indices(&name).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        let after = body[at + name.len()..].chars().next();
        !before.is_some_and(part_of_word) && !after.is_some_and(part_of_word)
    })
}

/// What inspect does with one object that depends on the column.
pub(super) enum Verdict {
    /// Carried to the new column: an index or a constraint, by its OID.
    Carry(ObjectKind, u32),
    /// Comes along without zdm doing anything (the index of a constraint, the column's own
    /// default, a NOT NULL constraint).
    Follows,
    Refuse(String),
}

/// Judges one dependent, by the catalog it lives in.
pub(super) fn judge(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    column: &Column,
    label: &str,
    dependent: &Dependent,
) -> Result<Verdict, postgres::Error> {
    let object = dependent.object;
    match dependent.class.as_str() {
        "pg_attrdef" => default_expression(transaction, column, label, object),
        "pg_class" => relation_on_column(transaction, relation, label, dependent),
        "pg_constraint" => constraint(transaction, relation, column, label, dependent),
        "pg_rewrite" => rewrite_rule(transaction, label, object),
        // A trigger's `UPDATE OF` list or `WHEN` names the old column, which goes.
        "pg_trigger" => Ok(Verdict::Refuse(format!(
            "{} fires on {label} (UPDATE OF or WHEN); drop it and re-create it over the new column",
            dependent.description
        ))),
        _ => Ok(Verdict::Refuse(format!(
            "{} depends on {label}, and zdm cannot carry it",
            dependent.description
        ))),
    }
}

/// Another column's generation expression reads the column: it would be dropped with it.
fn default_expression(
    transaction: &mut Transaction<'_>,
    column: &Column,
    label: &str,
    object: u32,
) -> Result<Verdict, postgres::Error> {
    let row = transaction.query_one(
        "SELECT d.adnum, quote_ident(a.attname) FROM pg_attrdef d \
         JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.oid = $1",
        &[&object],
    )?;
    if row.get::<_, i16>(0) == column.attnum {
        return Ok(Verdict::Follows);
    }
    Ok(Verdict::Refuse(format!(
        "the generated column {} is computed from {label}; drop it first and re-create it over \
         the new column after contract",
        row.get::<_, String>(1)
    )))
}

/// Indexes are carried (those of constraints come with their constraint); a sequence the
/// column owns would be dropped with it.
fn relation_on_column(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    label: &str,
    dependent: &Dependent,
) -> Result<Verdict, postgres::Error> {
    let object = dependent.object;
    let row = transaction.query_one(
        "SELECT c.relkind::text, quote_ident(c.relname), \
                EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid \
                        AND k.conrelid = $2 AND k.contype IN ('p', 'u', 'x')) \
         FROM pg_class c WHERE c.oid = $1",
        &[&object, &relation.id],
    )?;
    let name: String = row.get(1);
    Ok(match (row.get::<_, &str>(0), row.get::<_, bool>(2)) {
        ("i", true) => Verdict::Follows,
        ("i", false) => {
            let unique: bool = transaction
                .query_one(
                    "SELECT indisunique FROM pg_index WHERE indexrelid = $1",
                    &[&object],
                )?
                .get(0);
            Verdict::Carry(
                if unique {
                    ObjectKind::UniqueIndex
                } else {
                    ObjectKind::Index
                },
                object,
            )
        }
        ("S", _) => Verdict::Refuse(format!(
            "the sequence {name} is owned by {label} (serial), and would be dropped with it"
        )),
        _ => Verdict::Refuse(format!("{} depends on {label}", dependent.description)),
    })
}

/// CHECK, UNIQUE and the table's own FOREIGN KEYs are carried; a foreign key elsewhere
/// that references the column, the primary key and exclusion constraints are not.
fn constraint(
    transaction: &mut Transaction<'_>,
    relation: &Relation,
    column: &Column,
    label: &str,
    dependent: &Dependent,
) -> Result<Verdict, postgres::Error> {
    let object = dependent.object;
    let row = transaction.query_one(
        "SELECT contype::text, quote_ident(conname), conrelid, conrelid::regclass::text, \
                confrelid = $2 AND $3 = ANY (confkey), conrelid = $2 AND $3 = ANY (conkey) \
         FROM pg_constraint WHERE oid = $1",
        &[&object, &relation.id, &column.attnum],
    )?;
    let name: String = row.get(1);
    let on_table: String = row.get(3);
    let referenced: bool = row.get::<_, Option<bool>>(4).unwrap_or(false);
    let local: bool = row.get::<_, Option<bool>>(5).unwrap_or(false);
    Ok(match row.get::<_, &str>(0) {
        "f" if referenced => Verdict::Refuse(format!(
            "the foreign key {name} on {on_table} references {label}; drop it, and re-create it \
             against the new column after contract"
        )),
        "f" if local => Verdict::Carry(ObjectKind::ForeignKey, object),
        "c" => Verdict::Carry(ObjectKind::Check, object),
        "u" => Verdict::Carry(ObjectKind::Unique, object),
        "p" => Verdict::Refuse(format!(
            "{label} is part of the primary key {name}, which zdm cannot move without rewriting the \
             table under ACCESS EXCLUSIVE"
        )),
        "x" => Verdict::Refuse(format!(
            "the exclusion constraint {name} uses {label}; zdm does not carry exclusion constraints"
        )),
        // NOT NULL constraints (PostgreSQL 18+) are carried as `attnotnull`.
        "n" => Verdict::Follows,
        _ => Verdict::Refuse(format!("{} depends on {label}", dependent.description)),
    })
}

/// A view, materialized view or rule reading the column cannot follow the swap.
fn rewrite_rule(
    transaction: &mut Transaction<'_>,
    label: &str,
    object: u32,
) -> Result<Verdict, postgres::Error> {
    let row = transaction.query_one(
        "SELECT c.relkind::text, c.oid::regclass::text, quote_ident(r.rulename), n.nspname::text \
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.oid = $1",
        &[&object],
    )?;
    let (kind, name, rule, schema): (&str, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    // A view of an earlier migration's version schema serves the version this migration
    // calls old: it stays while that version runs, and the runner drops it before the
    // contract, when no old version runs any more.
    if kind == "v" && schema.starts_with(names::VERSION_SCHEMA_PREFIX) {
        return Ok(Verdict::Follows);
    }
    Ok(Verdict::Refuse(match kind {
        "v" => format!(
            "the view {name} uses {label}; a view cannot follow the swap, so drop it and \
             re-create it over the new column after contract"
        ),
        "m" => format!("the materialized view {name} uses {label}; drop it and re-create it after contract"),
        _ => format!("the rule {rule} on {name} uses {label}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn a_column_is_mentioned_as_a_word_of_its_own_in_any_case() {
        assert!(mentions("NEW.email := lower(NEW.email);", "email"));
        assert!(mentions("NEW.\"Email\" := 1;", "Email"));
        assert!(mentions("SELECT EMAIL FROM t", "email"));
        assert!(!mentions("NEW.email_addr := lower(NEW.email_addr);", "email"));
        assert!(!mentions("v_email := 1; emails$ := 2;", "email"));
        assert!(!mentions("NEW.updated_at := now();", "email"));
    }
}
