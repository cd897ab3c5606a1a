//! Every name zdm generates (triggers, functions, constraints, indexes, columns), defined
//! once: deterministic, and at most 63 bytes so PostgreSQL never truncates one into another.

use crate::Fnv1a;

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A generated name from `parts` joined by `_`, cut to 63 bytes with a hash of the full
/// name when longer, so long names stay distinct and the same on every build.
pub fn bounded_name(parts: &[&str]) -> String {
    let full = parts.join("_");
    if full.len() <= MAX_IDENTIFIER_BYTES {
        return full;
    }
    let suffix = format!("_{:08x}", Fnv1a::of(full.as_bytes()) as u32);
    let mut cut = MAX_IDENTIFIER_BYTES - suffix.len();
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &full[..cut])
}

/// The CHECK constraint that stands in for NOT NULL on `table`.`column` while it is validated
/// (`table` unquoted, as `pg_class.relname` spells it): `SET NOT NULL` is proven from it.
/// PostgreSQL's own names for a table's constraints start with the table's name and end in
/// a label (`_not_null`, `_check`, `_key`, …, maybe a number), and PostgreSQL 18 names every
/// NOT NULL constraint `<table>_<column>_not_null`; a name that starts with `zdm_` and ends
/// in `_nn` (or a hash) is one no version picks, so a reversal that drops the stand-in can
/// never drop the column's real NOT NULL.
pub fn not_null_stand_in(table: &str, column: &str) -> String {
    bounded_name(&["zdm", table, column, "nn"])
}

/// The index a declaration builds on one column.
pub fn column_index(table: &str, column: &str) -> String {
    bounded_name(&[table, column, "idx"])
}

/// The index a declaration builds on several columns or on the words of an expression.
pub fn index_of(table: &str, parts: &[&str]) -> String {
    let mut all = vec![table];
    all.extend_from_slice(parts);
    all.push("idx");
    bounded_name(&all)
}

/// The foreign key `add_foreign_key` adds.
pub fn foreign_key(table: &str, column: &str) -> String {
    bounded_name(&[table, column, "fkey"])
}

/// The trigger and function that keep the two columns of a column swap in step.
pub fn swap_trigger(table: &str, column: &str, new_column: &str) -> String {
    bounded_name(&["zdm_sync", table, column, new_column])
}

/// The column `change_type` adds beside `column` for the transition.
pub fn transition_column(column: &str) -> String {
    bounded_name(&[column, "zdm_new"])
}

/// The name a carried index or constraint has on the new column until the swap gives it
/// the original's name back.
pub fn carried(name: &str) -> String {
    bounded_name(&["zdm", name])
}

/// The AFTER trigger (and function) that copies writes of `split_table`'s source to the
/// new tables.
pub fn split_trigger(source: &str) -> String {
    bounded_name(&["zdm_split", source])
}

/// The trigger (and function) that copies writes of the new tables back to the source.
pub fn split_back_trigger(source: &str) -> String {
    bounded_name(&["zdm_split", source, "back"])
}

/// The transaction-local setting that keeps `split_table`'s two-way triggers from firing
/// each other, one per migration id.
pub fn split_guard(migration: &str) -> String {
    format!("zdm.split_{:08x}", Fnv1a::of(migration.as_bytes()) as u32)
}

/// The trigger (and function) that fills `column` on the writes that need it.
pub fn fill_trigger(table: &str, column: &str) -> String {
    bounded_name(&["zdm_sync", table, column])
}

/// The INSERT twin of [`fill_trigger`], where inserts and updates need different `WHEN`s.
pub fn fill_insert_trigger(table: &str, column: &str) -> String {
    bounded_name(&["zdm_sync", table, column, "insert"])
}

/// The table (in the state schema, unquoted) where a backfill records the rows it filled.
pub fn fill_record(migration: &str) -> String {
    bounded_name(&[migration, "filled"])
}

/// The reversal's lookup of the keys in [`fill_record`], one row each (unquoted).
pub fn fill_lookup(migration: &str) -> String {
    bounded_name(&[migration, "filled", "keys"])
}

/// The table (in the state schema, unquoted) where expand records what a catalog-only change
/// overwrites (a default, a definition, a replica identity), for the reversal to put back.
pub fn catalog_record(migration: &str) -> String {
    bounded_name(&[migration, "catalog"])
}

/// The UNIQUE constraint (and its index) `add_unique` adds, named as PostgreSQL would.
pub fn unique_key(table: &str, columns: &[&str]) -> String {
    let mut parts = vec![table];
    parts.extend_from_slice(columns);
    parts.push("key");
    bounded_name(&parts)
}

/// The primary key (and its index) `add_primary_key` adds, named as PostgreSQL would.
pub fn primary_key(table: &str) -> String {
    bounded_name(&[table, "pkey"])
}

/// The trigger (and function) of `add_check` that fixes the writes breaking `constraint`.
pub fn check_fix_trigger(table: &str, constraint: &str) -> String {
    bounded_name(&["zdm_fix", table, constraint])
}

/// The table (in the state schema, unquoted) where `add_check`'s backfill records the old
/// value of each row it fixed.
pub fn fix_record(migration: &str) -> String {
    bounded_name(&[migration, "fixed"])
}

/// The name (in the state schema, unquoted) a dropped table is kept under until it is
/// purged: the migration's id makes it one no other migration or table uses.
pub fn set_aside(migration: &str) -> String {
    bounded_name(&[migration, "dropped"])
}

/// The table (in the state schema, unquoted) recording the schema a table was set aside
/// from, so its reversal puts it back there.
pub fn set_aside_record(migration: &str) -> String {
    bounded_name(&[migration, "dropped_from"])
}

/// The name (unquoted) a dropped column is hidden under until it is purged: `zdm_`, the
/// migration's id, and the column's name.
pub fn hidden_column(migration: &str, column: &str) -> String {
    bounded_name(&["zdm", migration, column])
}

/// How every version schema's name starts.
pub const VERSION_SCHEMA_PREFIX: &str = "zdm_v_";

/// The schema of views through which the new application version of `migration` sees the
/// tables it changes. Readable (`zdm_v_` and the id) when the id is already a lower-case
/// identifier that fits; otherwise cut and followed by a hash of the id itself, so two ids
/// that differ only in characters an unquoted name cannot hold never share a schema. An
/// unquoted name, so it can be written into a `search_path` as it is.
pub fn version_schema(migration: &str) -> String {
    let prefix = VERSION_SCHEMA_PREFIX;
    let readable: String = migration
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let full = format!("{prefix}{readable}");
    if readable == migration && full.len() <= MAX_IDENTIFIER_BYTES {
        return full;
    }
    let suffix = format!("_{:08x}", Fnv1a::of(migration.as_bytes()) as u32);
    let cut = full.len().min(MAX_IDENTIFIER_BYTES - suffix.len());
    format!("{}{suffix}", &full[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_schemas_are_readable_when_they_can_be_and_distinct_always() {
        assert_eq!(version_schema("2026_11_24_01_email"), "zdm_v_2026_11_24_01_email");
        let dashed = version_schema("2026-11-24-email");
        assert!(dashed.starts_with("zdm_v_2026_11_24_email_"), "{dashed}");
        assert_ne!(dashed, version_schema("2026_11_24_email"));
        assert_ne!(version_schema("Email"), version_schema("email"));
        let long = version_schema(&"é".repeat(60));
        assert!(long.len() <= MAX_IDENTIFIER_BYTES, "{long}");
        assert!(
            long.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{long}"
        );
    }

    #[test]
    fn long_generated_names_are_cut_with_a_hash() {
        assert_eq!(bounded_name(&["zdm", "users_name_idx"]), "zdm_users_name_idx");
        let long = bounded_name(&["zdm", &"x".repeat(70)]);
        assert_eq!(long.len(), 63);
        assert_ne!(long, bounded_name(&["zdm", &"x".repeat(71)]));
        assert_eq!(
            long,
            bounded_name(&["zdm", &"x".repeat(70)]),
            "the same on every build"
        );
    }
}
