//! Quoting, and the placeholders the runtime fills in: the rules every statement zdm writes
//! follows, at compile time in the macro and at run time in the runtime.

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

/// `body` between dollar quotes whose tag (`$zdm$`, else `$zdm1$`, …) does not occur in it,
/// so no name or value inside can end the quoted body early.
pub fn dollar_quote(body: &str) -> String {
    (0..)
        .map(|n| {
            if n == 0 {
                "$zdm$".to_owned()
            } else {
                format!("$zdm{n}$")
            }
        })
        .find(|tag| format!("{body}{tag}").find(tag.as_str()) == Some(body.len()))
        .map(|tag| format!("{tag}{body}{tag}"))
        .expect("some tag is absent from a finite body")
}

/// Replaces each placeholder (`{range}`, `{key}`, `{old_type}`) where it stands as SQL
/// code, never inside a quoted name, a string literal or a dollar-quoted string, so a name
/// or a value that happens to hold a placeholder's text is left alone. The bodies zdm
/// generates (dollar quotes tagged `zdm…`, see [`dollar_quote`]) are code, and substituted.
pub fn substitute(sql: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    'scan: while let Some(first) = rest.chars().next() {
        let quoted_len = match first {
            '\'' => {
                let escapes = out.ends_with(['E', 'e']);
                closing(rest, '\'', escapes)
            }
            '"' => closing(rest, '"', false),
            '$' => match dollar_tag(rest) {
                // zdm's own bodies: the tag is copied and the body scanned as code.
                Some(tag) if tag.starts_with("$zdm") => Some(tag.len()),
                Some(tag) => rest[tag.len()..].find(tag).map(|end| 2 * tag.len() + end),
                None => None,
            },
            _ => {
                for (placeholder, value) in replacements {
                    if let Some(after) = rest.strip_prefix(placeholder) {
                        out.push_str(value);
                        rest = after;
                        continue 'scan;
                    }
                }
                None
            }
        };
        let take = quoted_len.unwrap_or(first.len_utf8()).min(rest.len());
        out.push_str(&rest[..take]);
        rest = &rest[take..];
    }
    out
}

/// The length of the quoted run at the start of `text` (opening and closing quote included),
/// with doubled quotes (and, in `E''` strings, backslashes) escaping.
fn closing(text: &str, quote: char, backslash_escapes: bool) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if backslash_escapes && c == '\\' {
            chars.next();
        } else if c == quote {
            if chars.peek().map(|(_, next)| *next) == Some(quote) {
                chars.next();
            } else {
                return Some(at + c.len_utf8());
            }
        }
    }
    None
}

/// The dollar-quote tag (`$$`, `$tag$`) at the start of `text`, if one is there.
fn dollar_tag(text: &str) -> Option<&str> {
    let end = text[1..].find('$')? + 1;
    let tag = &text[1..end];
    let valid = tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !tag.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| &text[..=end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_in_code_only() {
        let replace = |sql: &str| substitute(sql, &[("{range}", "(id > 5)"), ("{key}", "\"id\"")]);
        assert_eq!(
            replace("UPDATE \"t {range}\" SET c = '{key}' WHERE {range} RETURNING {key}"),
            "UPDATE \"t {range}\" SET c = '{key}' WHERE (id > 5) RETURNING \"id\""
        );
        assert_eq!(
            replace("SELECT E'\\' {range}' , $$ {key} $$, {key}"),
            "SELECT E'\\' {range}' , $$ {key} $$, \"id\""
        );
        assert_eq!(
            replace("AS $zdm$ BEGIN x := {key}; y := \"{key}\"; END $zdm$"),
            "AS $zdm$ BEGIN x := \"id\"; y := \"{key}\"; END $zdm$"
        );
        assert_eq!(
            replace("SELECT $1, 'it''s {range}', {range}"),
            "SELECT $1, 'it''s {range}', (id > 5)"
        );
    }

    #[test]
    fn the_dollar_tag_never_occurs_in_the_body() {
        assert_eq!(dollar_quote("BEGIN END"), "$zdm$BEGIN END$zdm$");
        assert_eq!(dollar_quote("a \"$zdm$\" b"), "$zdm1$a \"$zdm$\" b$zdm1$");
        // A body ending in `$zdm` would close early with a `$zdm$` tag appended.
        assert_eq!(dollar_quote("x $zdm"), "$zdm1$x $zdm$zdm1$");
    }

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
