//! SQL text: quoting, deterministic generated names, and the compile-time checks on the
//! SQL fragments a declaration carries (types, expressions): lexical ones here, on zdm's
//! tokenizer, then the grammar's in [`crate::grammar`].

use crate::grammar::{self, Place};
pub use crate::known::closest;
use zdm_plan::lexer::{tokenize, Kind, Token};
pub use zdm_plan::names::MAX_IDENTIFIER_BYTES;
pub use zdm_plan::sql::{dollar_quote, quote_ident, quote_literal, STATE_SCHEMA};

/// Why an identifier cannot be used, if it cannot.
pub fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if name.contains('\0') {
        return Some("contains a NUL character, which PostgreSQL does not allow in names".to_owned());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Some(format!(
            "is {} bytes long; PostgreSQL would silently cut it to {MAX_IDENTIFIER_BYTES} bytes",
            name.len()
        ));
    }
    None
}

/// Why a SQL expression cannot be embedded in generated statements, if it cannot.
///
/// The check is lexical, on zdm's one tokenizer: strings, quoted identifiers and dollar
/// quotes are closed, parentheses balance, nothing ends the statement or comments out what
/// follows, and no `,` at the top level adds a second expression (or a second clause of the
/// statement around it). Then PostgreSQL's grammar must read exactly one expression fit for
/// `place`. Whether names and functions exist is for the server to say.
pub fn expression_problem(sql: &str, place: Place) -> Option<String> {
    if sql.trim().is_empty() {
        return Some("is empty".to_owned());
    }
    let mut depth = 0i32;
    for token in tokenize(sql) {
        if let Some(problem) = token_problem(&token) {
            return Some(problem);
        }
        match token.text {
            "(" | "[" => depth += 1,
            ")" | "]" => {
                depth -= 1;
                if depth < 0 {
                    let opening = if token.text == ")" { "(" } else { "[" };
                    return Some(format!("has a `{}` without a matching `{opening}`", token.text));
                }
            }
            "," if depth == 0 => {
                return Some("has a `,` at the top level: it takes one expression, not a list".to_owned())
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Some("has a `(` that is never closed".to_owned());
    }
    grammar::expression_problem(sql, place)
}

/// The fragment as generated statements embed it: parenthesized, so that the operators of
/// the statement around it cannot bind into it, whatever the grammar position.
pub fn embedded(fragment: &str) -> String {
    format!("({})", fragment.trim())
}

/// What one token alone makes impossible to embed.
fn token_problem(token: &Token<'_>) -> Option<String> {
    let unclosed = !token.closed();
    match token.kind {
        Kind::String if unclosed => Some("has a string literal that is never closed".to_owned()),
        Kind::QuotedIdent if unclosed => Some("has a quoted identifier that is never closed".to_owned()),
        Kind::DollarString => {
            let (tag, _) = token.dollar_parts()?;
            if tag.starts_with("$zdm") {
                Some(format!(
                    "uses the dollar quote {tag}: tags starting with `zdm` are reserved for the bodies zdm generates"
                ))
            } else {
                unclosed.then(|| format!("has a {tag} quoted string that is never closed"))
            }
        }
        Kind::Comment if token.text.starts_with("--") => {
            Some("contains a `--` comment, which would swallow the SQL after it".to_owned())
        }
        Kind::Comment => Some("contains a `/*` comment".to_owned()),
        Kind::Punctuation if token.text == ";" => {
            Some("contains `;`: an expression cannot end the statement".to_owned())
        }
        // Outside quotes SQL has no braces; zdm's placeholders ({range}, {key}) use them.
        Kind::Punctuation if matches!(token.text, "{" | "}") => Some(
            "contains a brace outside quotes: SQL has none there, and zdm's placeholders ({range}, {key}) use them"
                .to_owned(),
        ),
        _ => None,
    }
}

/// Functions whose result differs per row: as a column default they make `ADD COLUMN`
/// rewrite the whole table under ACCESS EXCLUSIVE, so zdm adds the column first and
/// backfills instead.
const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
    "txid_current",
    "pg_current_xact_id",
    "random_normal",
];

/// Whether the expression calls a function known to be volatile.
/// Built-in functions a default may call and stay catalog-only: none is volatile.
const NON_VOLATILE_FUNCTIONS: &[&str] = &[
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "current_setting",
    "lower",
    "upper",
    "btrim",
    "ltrim",
    "rtrim",
    "concat",
    "concat_ws",
    "md5",
    "length",
    "abs",
    "round",
    "floor",
    "ceil",
    "date_trunc",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_json",
    "to_jsonb",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "array_to_string",
    "replace",
    "substr",
    "left",
    "right",
    "format",
    "make_interval",
    "make_date",
    "timezone",
    "encode",
    "decode",
    "sha256",
];

/// Whether `default` calls a function zdm does not know to be other than volatile: one
/// of the user's, or a built-in outside [`NON_VOLATILE_FUNCTIONS`]. Only the catalog can
/// say what such a default does to `ADD COLUMN`.
pub fn calls_undecided_function(default: &str) -> bool {
    grammar::reads(default).functions.iter().any(|name| {
        let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
        !NON_VOLATILE_FUNCTIONS.contains(&name)
    })
}

pub fn calls_volatile_function(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    VOLATILE_FUNCTIONS.iter().any(|function| {
        lower.match_indices(function).any(|(at, _)| {
            let before_ok = lower[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let after = lower[at + function.len()..].trim_start();
            before_ok && after.starts_with('(')
        })
    })
}

/// Why a type cannot be used, with a suggestion where one fits.
///
/// Accepted: one type as PostgreSQL's grammar reads it (modifiers, arrays, `with time
/// zone`, interval fields), a built-in's modifiers within what the server takes; a
/// quoted or schema-qualified name for types of the user's own (enums, domains, extension
/// types). An unquoted unknown name is taken for a typo of a built-in.
pub fn type_problem(ty: &str) -> Option<String> {
    if ty.trim().is_empty() {
        return Some("is empty".to_owned());
    }
    if let Some(problem) = tokenize(ty).into_iter().find_map(|token| token_problem(&token)) {
        return Some(problem);
    }
    grammar::type_problem(ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression_problem_v(sql: &str) -> Option<String> {
        expression_problem(sql, Place::Value)
    }

    #[test]
    fn expressions_must_be_closed_and_single() {
        assert_eq!(expression_problem_v("lower(email)"), None);
        assert_eq!(expression_problem_v("'it''s; fine'"), None);
        assert_eq!(expression_problem_v("E'a\\'b'"), None);
        assert_eq!(expression_problem_v("$$ a; b $$"), None);
        assert!(expression_problem_v("1; DROP TABLE users").unwrap().contains(";"));
        assert!(expression_problem_v("lower(email")
            .unwrap()
            .contains("never closed"));
        assert!(expression_problem_v("'open").unwrap().contains("string literal"));
        assert!(expression_problem_v("1 -- x").unwrap().contains("comment"));
        assert!(expression_problem_v("  ").unwrap().contains("empty"));
        assert!(expression_problem_v("$zdm$ x $zdm$")
            .unwrap()
            .contains("reserved"));
        assert!(expression_problem_v("$zdm1$ x $zdm1$")
            .unwrap()
            .contains("reserved"));
        assert!(expression_problem_v("id > {range}").unwrap().contains("brace"));
        assert_eq!(expression_problem_v("'{1,2}'::int[] || '{range}'"), None);
    }

    #[test]
    fn volatile_calls_are_found_by_name() {
        assert!(calls_volatile_function("gen_random_uuid()"));
        assert!(calls_volatile_function("floor(RANDOM () * 10)"));
        assert!(!calls_volatile_function("now()"));
        assert!(!calls_volatile_function("my_random(1)"));
    }

    #[test]
    fn types_are_checked_with_suggestions() {
        assert_eq!(type_problem("boolean"), None);
        assert_eq!(type_problem("varchar(255)"), None);
        assert_eq!(type_problem("numeric(12, 2)"), None);
        assert_eq!(type_problem("Timestamp With Time Zone"), None);
        assert_eq!(type_problem("text[]"), None);
        assert_eq!(type_problem("\"public\".\"mood\""), None);
        assert!(type_problem("integr").unwrap().contains("did you mean `integer`"));
        assert!(type_problem("bigserial").unwrap().contains("rewrites"));
        assert!(type_problem("varchar(x)").unwrap().contains("modifier"));
    }
}
