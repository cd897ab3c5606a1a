//! Quoting, and the placeholders the runtime fills in: the rules every statement zdm writes
//! follows, at compile time in the macro and at run time in the runtime.

use crate::lexer::tokenize;

/// Stands for the state schema (`Options::state_schema`, quoted) in planned statements: the
/// schema is chosen where the runner runs, after the plan was compiled.
pub const STATE_SCHEMA: &str = "{state}";

/// `"name"`, with embedded double quotes doubled: a name can never end the identifier
/// early, whatever it contains.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as SQL names an object: `"schema"."name"` when the schema is given, else `"name"`,
/// resolved through the search path.
pub fn qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(name),
    }
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
/// code, never inside a quoted name, a string literal, a dollar-quoted string or a comment,
/// so a name or a value that happens to hold a placeholder's text is left alone. The bodies
/// zdm generates (dollar quotes tagged `zdm…`, see [`dollar_quote`]) are code, and substituted.
pub fn substitute(sql: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(sql.len());
    // Placeholders span several tokens (`{`, `range`, `}`), so each run of code is
    // replaced as a whole.
    let mut code = String::new();
    // Left to right, each placeholder where it starts, and never again inside a value put
    // in: a key value read from the table may spell `{state}`, a name `{range}`.
    let flush = |code: &mut String, out: &mut String| {
        let text = std::mem::take(code);
        let mut rest = text.as_str();
        loop {
            let next = replacements
                .iter()
                .filter(|(placeholder, _)| !placeholder.is_empty())
                .filter_map(|(placeholder, value)| rest.find(placeholder).map(|at| (at, placeholder, value)))
                .min_by_key(|(at, ..)| *at);
            let Some((at, placeholder, value)) = next else {
                out.push_str(rest);
                return;
            };
            out.push_str(&rest[..at]);
            out.push_str(value);
            rest = &rest[at + placeholder.len()..];
        }
    };
    for token in tokenize(sql) {
        match token.dollar_parts() {
            Some((tag, body)) if tag.starts_with("$zdm") => {
                flush(&mut code, &mut out);
                out.push_str(tag);
                out.push_str(&substitute(body, replacements));
                if token.closed() {
                    out.push_str(tag);
                }
            }
            _ if token.is_code() => code.push_str(token.text),
            _ => {
                flush(&mut code, &mut out);
                out.push_str(token.text);
            }
        }
    }
    flush(&mut code, &mut out);
    out
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
        // A word ending in `e` before a quote is no escape-string prefix: the backslash is
        // plain and the string ends at the next quote.
        assert_eq!(
            replace(r"SELECT name'\' {range} -- {key}"),
            r"SELECT name'\' (id > 5) -- {key}"
        );
    }

    #[test]
    fn a_value_put_in_is_never_substituted_again() {
        assert_eq!(
            substitute(
                "SELECT {key} WHERE {range} FROM {state}.t",
                &[
                    ("{key}", "\"{range}\""),
                    ("{range}", "(id > '{state}')"),
                    ("{state}", "\"s\""),
                ],
            ),
            "SELECT \"{range}\" WHERE (id > '{state}') FROM \"s\".t"
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
