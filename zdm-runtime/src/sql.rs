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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
