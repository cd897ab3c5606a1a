//! Quoting for the SQL the runner composes at run time. The macro quotes everything it
//! generates at compile time with the same rules.

/// `"name"`, with embedded double quotes doubled: a name can never end the identifier
/// early, whatever it contains.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'`, with embedded single quotes doubled (the server runs with
/// `standard_conforming_strings`, its default since 9.1, so backslashes are plain).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A generated name from `parts` joined by `_`, cut to 63 bytes with a hash of the full
/// name when longer; the same rule as the macro's, so both sides agree on names.
pub(crate) fn bounded_name(parts: &[&str]) -> String {
    let full = parts.join("_");
    if full.len() <= MAX_IDENTIFIER_BYTES {
        return full;
    }
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("_{:08x}", hash as u32);
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
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn long_generated_names_are_cut_with_a_hash() {
        assert_eq!(bounded_name(&["zdm", "users_name_idx"]), "zdm_users_name_idx");
        let long = bounded_name(&["zdm", &"x".repeat(70)]);
        assert_eq!(long.len(), 63);
        assert_ne!(long, bounded_name(&["zdm", &"x".repeat(71)]));
    }
}
