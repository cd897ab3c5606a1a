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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_generated_names_are_cut_with_a_hash() {
        assert_eq!(bounded_name(&["zdm", "users_name_idx"]), "zdm_users_name_idx");
        let long = bounded_name(&["zdm", &"x".repeat(70)]);
        assert_eq!(long.len(), 63);
        assert_ne!(long, bounded_name(&["zdm", &"x".repeat(71)]));
    }
}
