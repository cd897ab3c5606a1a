//! Fragments read by PostgreSQL's grammar (squawk's parser, pure Rust): an expression is
//! accepted only if `SELECT <fragment>` is one statement with one target and nothing else,
//! a type only if `SELECT NULL::<type>` is one cast to one type. The lexical checks in
//! `sql` run first and keep their messages; this is what they cannot see (clauses, set
//! operations, aliases, a grammar that stops), and it does not depend on zdm's tokenizer
//! agreeing with the server's: both must accept.

use squawk_syntax::{SourceFile, SyntaxKind, SyntaxNode, SyntaxToken};

/// The grammar position a fragment fills, for what kind of expression it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A value: `default`, `backfill`, `up`, `down`, an index `expression`.
    Value,
    /// A condition: `where`.
    Condition,
}

const EXPRESSION_PREFIX: &str = "SELECT ";
const TYPE_PREFIX: &str = "SELECT NULL::";

/// Why the fragment is not exactly one expression for `place`, if it is not.
pub fn expression_problem(fragment: &str, place: Place) -> Option<String> {
    let sql = format!("{EXPRESSION_PREFIX}{fragment}");
    let root = match parsed(&sql, EXPRESSION_PREFIX.len()) {
        Ok(root) => root,
        Err(at) => return Some(format!("is not one SQL expression: {}", stops_at(fragment, at))),
    };
    let target = match one_target(&root, "expression") {
        Ok(target) => target,
        Err(problem) => return Some(problem),
    };
    if token_kinds(&target).any(|kind| kind == SyntaxKind::STAR) {
        return Some("is `*`, which stands for every column, not an expression".to_owned());
    }
    let mut parts = target.children();
    let expression = parts.next()?;
    if let Some(after) = parts.next() {
        return Some(format!(
            "has `{}` after the expression: it takes one expression and nothing after it",
            after.text().to_string().trim()
        ));
    }
    if place == Place::Condition {
        if let Some(what) = not_a_condition(&expression) {
            return Some(format!(
                "is {what} (`{}`), not a condition: it takes a boolean expression such as `deleted_at IS NULL`",
                expression.text()
            ));
        }
    }
    None
}

/// Why the text is not exactly one column type PostgreSQL accepts, if it is not.
pub fn type_problem(ty: &str) -> Option<String> {
    let sql = format!("{TYPE_PREFIX}{ty}");
    let root = match parsed(&sql, TYPE_PREFIX.len()) {
        Ok(root) => root,
        Err(at) => return Some(format!("is not one SQL type: {}", stops_at(ty, at))),
    };
    let target = match one_target(&root, "type") {
        Ok(target) => target,
        Err(problem) => return Some(problem),
    };
    let cast = only_child(&target).filter(|cast| cast.kind() == SyntaxKind::CAST_EXPR);
    let Some(written) = cast.and_then(|cast| cast.children().last()) else {
        let found = target.text().to_string();
        let after = found.strip_prefix("NULL::").unwrap_or(&found);
        return Some(format!(
            "is not a type alone: PostgreSQL reads `{after}` as a type followed by more; write the type only"
        ));
    };
    let mut base = written;
    while base.kind() == SyntaxKind::ARRAY_TYPE {
        match base.first_child() {
            Some(element) => base = element,
            None => break,
        }
    }
    if token_kinds(&base).any(|kind| kind == SyntaxKind::SETOF_KW) {
        return Some("is a `setof` type, a set of rows, not the type of a column".to_owned());
    }
    modifiers::problem(&base)
}

/// The parsed tree, or the offset in the fragment where the grammar stops.
pub(crate) fn parsed(sql: &str, prefix: usize) -> Result<SyntaxNode, usize> {
    // The parser is written never to panic; should it, the user gets an error at the
    // fragment rather than a panicking macro.
    let parse = std::panic::catch_unwind(|| {
        let parse = SourceFile::parse(sql);
        let first_error = parse
            .errors()
            .first()
            .map(|error| usize::from(error.range().start()));
        (parse.syntax_node(), first_error)
    });
    match parse {
        Ok((_, Some(at))) => Err(at.saturating_sub(prefix)),
        Ok((root, None)) => Ok(root),
        Err(_) => Err(0),
    }
}

/// Where the grammar stops, in words: the word there, or the end.
pub(crate) fn stops_at(fragment: &str, at: usize) -> String {
    let rest = fragment.get(at..).unwrap_or("").trim_start();
    let word: String = rest
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .take(24)
        .collect();
    if word.is_empty() {
        "PostgreSQL's grammar expects more at its end".to_owned()
    } else {
        format!("PostgreSQL's grammar stops at `{word}`")
    }
}

/// The one target of the one `SELECT`, or what stands beside it, in `what`'s words.
fn one_target(root: &SyntaxNode, what: &str) -> Result<SyntaxNode, String> {
    let statements: Vec<SyntaxNode> = root.children().collect();
    let [statement] = statements.as_slice() else {
        return Err(format!(
            "holds {} statements; it takes one {what}",
            statements.len()
        ));
    };
    match statement.kind() {
        SyntaxKind::SELECT => {}
        SyntaxKind::COMPOUND_SELECT => {
            let operator = first_keyword(statement, &["UNION", "INTERSECT", "EXCEPT"]);
            return Err(format!(
                "has `{operator}` after the {what}: it takes one {what}, not a query"
            ));
        }
        SyntaxKind::SELECT_INTO => {
            return Err(format!("has an `INTO` clause: it takes one {what}, not a query"));
        }
        _ => return Err(format!("is not one {what}")),
    }
    let mut parts = statement.children();
    let clause = parts
        .next()
        .filter(|clause| clause.kind() == SyntaxKind::SELECT_CLAUSE);
    if let Some(extra) = parts.next() {
        let clause: String = extra.text().to_string().chars().take(40).collect();
        return Err(format!(
            "has `{}` after the {what}: it takes one {what}, not a query; a subquery goes in parentheses, \
             as in `(SELECT …)`",
            clause.trim()
        ));
    }
    let Some(clause) = clause else {
        return Err(format!("is not one {what}"));
    };
    // `SELECT` is ours; any other word of the clause (`DISTINCT`, `ALL`) is the fragment's.
    let quantifier = clause
        .children_with_tokens()
        .skip_while(|element| element.kind() != SyntaxKind::SELECT_KW)
        .skip(1)
        .find(|element| {
            !matches!(
                element.kind(),
                SyntaxKind::WHITESPACE | SyntaxKind::COMMENT | SyntaxKind::TARGET_LIST
            )
        });
    if let Some(quantifier) = quantifier {
        let word = quantifier
            .as_node()
            .and_then(SyntaxNode::first_token)
            .or_else(|| quantifier.as_token().cloned())
            .map(|token| token.text().to_owned());
        return Err(format!(
            "starts with `{}`, a keyword of queries: it takes one {what}",
            word.unwrap_or_default().to_uppercase()
        ));
    }
    let Some(list) = clause
        .children()
        .find(|node| node.kind() == SyntaxKind::TARGET_LIST)
    else {
        return Err("is empty".to_owned());
    };
    let targets: Vec<SyntaxNode> = list.children().collect();
    match targets.as_slice() {
        [target] if !token_kinds(&list).any(|kind| kind == SyntaxKind::COMMA) => Ok(target.clone()),
        [] => Err("is empty".to_owned()),
        _ => Err(format!(
            "has a `,` at the top level: it takes one {what}, not a list"
        )),
    }
}

/// What an accepted fragment reads from its row and the functions it calls, as the plan
/// records them for the run-time checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Column names as PostgreSQL folds them (lower case unless quoted), once each, in
    /// order of appearance; qualified names are left out (see [`is_column`]).
    pub columns: Vec<String>,
    /// Function names called, possibly schema-qualified, each part quoted where PostgreSQL
    /// would need it (`lower`, `app."Score"`).
    pub functions: Vec<String>,
}

/// The columns and functions of a fragment [`expression_problem`] accepts; nothing for one
/// it refuses. Only the grammar is read: which names are columns of the table and which
/// functions exist is the server's to say.
pub fn reads(fragment: &str) -> Reads {
    let sql = format!("{EXPRESSION_PREFIX}{fragment}");
    let mut reads = Reads::default();
    let Ok(root) = parsed(&sql, EXPRESSION_PREFIX.len()) else {
        return reads;
    };
    let once = |names: &mut Vec<String>, name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    for node in root.descendants() {
        match node.kind() {
            SyntaxKind::CALL_EXPR => {
                let parts = node.first_child().and_then(|callee| name_parts(&callee));
                if let Some(parts) = parts {
                    let quoted: Vec<String> = parts.iter().map(|part| quoted_if_needed(part)).collect();
                    once(&mut reads.functions, quoted.join("."));
                }
            }
            SyntaxKind::NAME_REF if is_column(&node) => {
                if let Some(token) = node.first_token() {
                    once(&mut reads.columns, folded(token.text()));
                }
            }
            _ => {}
        }
    }
    reads
}

/// Whether a name reference may stand for a column of the declaration's table: not a
/// function's name, and not part of a qualified name (`c.id`). A fragment is evaluated over
/// the row alone (the sync trigger reads it from `(SELECT NEW.*) AS zdm_row`), where the
/// table is not in scope under its own name, so a qualified name is a column of a
/// subquery's relation; counting it would refuse `c.id` for a generated `id` of the table.
fn is_column(name: &SyntaxNode) -> bool {
    match name.parent() {
        Some(parent) if parent.kind() == SyntaxKind::CALL_EXPR => parent.first_child().as_ref() != Some(name),
        Some(parent) => parent.kind() != SyntaxKind::FIELD_EXPR,
        None => false,
    }
}

/// The folded parts of a name (`f`, `app.f`), or `None` for anything else (`EXTRACT(…)`).
fn name_parts(node: &SyntaxNode) -> Option<Vec<String>> {
    match node.kind() {
        SyntaxKind::NAME_REF => Some(vec![folded(node.first_token()?.text())]),
        SyntaxKind::FIELD_EXPR => {
            let mut parts = Vec::new();
            for child in node.children() {
                parts.extend(name_parts(&child)?);
            }
            Some(parts)
        }
        _ => None,
    }
}

/// An identifier as PostgreSQL stores it: a quoted one as written, without its quotes;
/// an unquoted one in lower case.
fn folded(identifier: &str) -> String {
    match identifier
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => identifier.to_ascii_lowercase(),
    }
}

/// `name` as it can be written back: bare when PostgreSQL would fold it to itself.
fn quoted_if_needed(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_owned()
    } else {
        zdm_plan::sql::quote_ident(name)
    }
}

/// Whether an expression is plainly a value rather than a condition: only what the
/// grammar alone shows (a number, a string, an array or row constructor); types are the
/// server's to check.
fn not_a_condition(expression: &SyntaxNode) -> Option<&'static str> {
    match expression.kind() {
        SyntaxKind::LITERAL => {
            let token = expression.first_token()?;
            match token.kind() {
                SyntaxKind::TRUE_KW | SyntaxKind::FALSE_KW | SyntaxKind::NULL_KW => None,
                SyntaxKind::INT_NUMBER | SyntaxKind::NUMERIC_NUMBER => Some("a number"),
                _ => Some("a constant"),
            }
        }
        SyntaxKind::ARRAY_EXPR => Some("an array"),
        SyntaxKind::TUPLE_EXPR => Some("a row"),
        _ => None,
    }
}

fn only_child(node: &SyntaxNode) -> Option<SyntaxNode> {
    let mut children = node.children();
    let first = children.next()?;
    children.next().is_none().then_some(first)
}

/// The kinds of the tokens directly inside `node`, trivia left out.
pub(crate) fn token_kinds(node: &SyntaxNode) -> impl Iterator<Item = SyntaxKind> {
    node.children_with_tokens()
        .filter_map(|element| element.into_token())
        .map(|token| token.kind())
        .filter(|kind| !matches!(kind, SyntaxKind::WHITESPACE | SyntaxKind::COMMENT))
}

fn first_keyword(node: &SyntaxNode, words: &[&str]) -> String {
    descendant_tokens(node)
        .map(|token| token.text().to_uppercase())
        .find(|text| words.contains(&text.as_str()))
        .unwrap_or_else(|| words.join("/"))
}

fn descendant_tokens(node: &SyntaxNode) -> impl Iterator<Item = SyntaxToken> {
    node.descendants_with_tokens()
        .filter_map(|element| element.into_token())
        .filter(|token| !matches!(token.kind(), SyntaxKind::WHITESPACE | SyntaxKind::COMMENT))
}

/// Type modifiers of built-in types. The grammar takes any parenthesized list after a type
/// name (`text(10)`, `varchar(0)` parse); PostgreSQL refuses them later, when each type's
/// modifier function reads them. This table repeats those functions' rules for the
/// built-in types that take modifiers and refuses modifiers on the other built-ins. It is
/// kept small on purpose: the types of extensions and of the user are left to the server.
mod modifiers {
    use super::{descendant_tokens, SyntaxKind, SyntaxNode};
    use crate::known::{BUILT_IN_TYPES, SERIAL_TYPES};

    /// What a built-in type takes in parentheses.
    #[derive(Clone, Copy)]
    enum Rule {
        /// Nothing: `text`, `integer`, `uuid`, …
        None,
        /// One length, `1..=max` (`varchar(n)`, `char(n)`, `bit(n)`).
        Length(u32),
        /// One fractional-seconds precision, 0 to 6 (`timestamp(p)`, `interval(p)`).
        Precision,
        /// A precision 1 to 1000 and a scale 0 to that precision (`numeric(p, s)`).
        Numeric,
        /// One precision in bits, 1 to 53 (`float(p)`).
        Float,
    }

    /// The built-in types' rules, by the name PostgreSQL's grammar knows them under.
    fn rule_of(name: &str) -> Rule {
        match name {
            "varchar" | "character varying" | "char varying" | "char" | "character" | "bpchar" => {
                Rule::Length(10_485_760)
            }
            "bit" | "bit varying" | "varbit" => Rule::Length(83_886_080),
            "timestamp" | "timestamptz" | "time" | "timetz" | "interval" => Rule::Precision,
            "numeric" | "decimal" | "dec" => Rule::Numeric,
            "float" => Rule::Float,
            "vector" => Rule::Length(16_000),
            _ => Rule::None,
        }
    }

    pub fn problem(base: &SyntaxNode) -> Option<String> {
        let (name, known) = match base.kind() {
            SyntaxKind::PATH_TYPE => {
                let path = base.first_child()?;
                let text = path.text().to_string();
                // Quoted or schema-qualified: a type of the user's own or an extension's.
                if text.contains('"') || text.contains('.') {
                    return None;
                }
                let name = text.to_ascii_lowercase();
                if SERIAL_TYPES.contains(&name.as_str()) {
                    return Some(format!(
                        "is `{name}`, which adds a sequence default and rewrites the whole table; \
                         add an integer column and fill it from a sequence with `backfill` instead"
                    ));
                }
                let known = BUILT_IN_TYPES.contains(&name.as_str());
                (name, known)
            }
            SyntaxKind::VARCHAR_TYPE => ("varchar".to_owned(), true),
            SyntaxKind::CHARACTER_TYPE => ("char".to_owned(), true),
            SyntaxKind::BIT_TYPE => ("bit".to_owned(), true),
            SyntaxKind::BIT_VARYING_TYPE => ("bit varying".to_owned(), true),
            SyntaxKind::TIMESTAMP_TYPE => ("timestamp".to_owned(), true),
            SyntaxKind::TIME_TYPE => ("time".to_owned(), true),
            SyntaxKind::INTERVAL_TYPE => ("interval".to_owned(), true),
            _ => (base.text().to_string().to_ascii_lowercase(), true),
        };
        if !known {
            let mut message = format!("is not a PostgreSQL type zdm knows (`{name}`)");
            match crate::known::closest(&name, BUILT_IN_TYPES) {
                Some(suggestion) => message.push_str(&format!("; did you mean `{suggestion}`? F")),
                None => message.push_str("; f"),
            }
            message
                .push_str("or a type of your own, write its name in double quotes, as in \"\\\"mood\\\"\"");
            return Some(message);
        }
        // No modifiers: nothing for the table to check.
        let written = written_modifiers(base)?;
        let numbers: Option<Vec<u64>> = written.iter().map(|item| item.parse().ok()).collect();
        let text = format!("({})", written.join(", "));
        let Some(numbers) = numbers else {
            return Some(format!(
                "has the modifier `{text}`; expected numbers such as `(255)` or `(12, 2)`"
            ));
        };
        check(&name, rule_of(&name), &numbers, &text)
    }

    fn check(name: &str, rule: Rule, numbers: &[u64], text: &str) -> Option<String> {
        let out_of = |what: &str, value: u64, range: &str| {
            Some(format!(
                "gives `{name}` the {what} {value}, which PostgreSQL refuses: it takes {range}"
            ))
        };
        match (rule, numbers) {
            (Rule::None, _) => Some(format!(
                "gives `{name}` the modifier `{text}`, which PostgreSQL refuses: `{name}` takes none; write `{name}`"
            )),
            (Rule::Length(max), [n]) if *n < 1 || *n > u64::from(max) => {
                out_of("length", *n, &format!("1 to {max}"))
            }
            (Rule::Length(_), [_]) => None,
            (Rule::Precision, [p]) if *p > 6 => out_of("precision", *p, "0 to 6 digits"),
            (Rule::Precision, [_]) => None,
            (Rule::Float, [p]) if *p < 1 || *p > 53 => out_of("precision", *p, "1 to 53 bits"),
            (Rule::Float, [_]) => None,
            (Rule::Numeric, [p, ..]) if *p < 1 || *p > 1000 => out_of("precision", *p, "1 to 1000"),
            (Rule::Numeric, [p, s]) if s > p => Some(format!(
                "gives `{name}` the scale {s} with the precision {p}; PostgreSQL 12 to 14 take a scale \
                 from 0 to the precision"
            )),
            (Rule::Numeric, [_] | [_, _]) => None,
            (Rule::Numeric, _) => Some(format!(
                "gives `{name}` the modifiers `{text}`; it takes a precision and a scale, as in `{name}(12, 2)`"
            )),
            (_, _) => Some(format!(
                "gives `{name}` the modifiers `{text}`; it takes one number, as in `{name}(3)`"
            )),
        }
    }

    /// The modifiers in parentheses after the type's name, as written, if any.
    fn written_modifiers(base: &SyntaxNode) -> Option<Vec<String>> {
        let mut tokens = descendant_tokens(base).skip_while(|token| token.kind() != SyntaxKind::L_PAREN);
        tokens.next()?;
        let mut items = vec![String::new()];
        let mut depth = 0usize;
        for token in tokens {
            match token.kind() {
                SyntaxKind::L_PAREN => depth += 1,
                SyntaxKind::R_PAREN if depth == 0 => break,
                SyntaxKind::R_PAREN => depth -= 1,
                SyntaxKind::COMMA if depth == 0 => {
                    items.push(String::new());
                    continue;
                }
                _ => {}
            }
            let item = items.last_mut()?;
            if !item.is_empty() {
                item.push(' ');
            }
            item.push_str(token.text());
        }
        Some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(fragment: &str) -> Option<String> {
        expression_problem(fragment, Place::Value)
    }

    #[test]
    fn one_expression_of_every_form_is_accepted() {
        for fragment in [
            "lower(email)",
            "'it''s; fine'",
            r"E'a\'b' || e'\\'",
            "$$ a; b $$",
            "$tag$ it's; $$ not the end $tag$",
            r"U&'d\0061t\+000061'",
            "U&'d!0061t' UESCAPE '!'",
            r#"U&"d\0061t""#,
            "date '2020-01-01'",
            r"name '\'",
            "'1'::int + x::numeric(12, 2)",
            "1 OPERATOR(pg_catalog.+) 2",
            "ARRAY[1, 2, 3]",
            "ARRAY[[1, 2], [3, 4]]",
            "ROW(1, 'a')",
            "(1, 2)",
            "a$b + \"c$d\" + e$$f$$",
            "CASE WHEN x THEN 1 ELSE 2 END",
            "B'1010' || X'FF'",
            "now() - interval '1 day'",
            "(SELECT c.id FROM customers AS c WHERE c.email = customer_email)",
            "x IS NOT DISTINCT FROM y",
            "col COLLATE \"C\"",
        ] {
            assert_eq!(value(fragment), None, "{fragment}");
        }
    }

    #[test]
    fn anything_beside_the_expression_is_refused() {
        let cases = [
            (
                "'free', DROP COLUMN email",
                "is not one SQL expression: PostgreSQL's grammar stops at `email`",
            ),
            (
                "'a', 'b'",
                "has a `,` at the top level: it takes one expression, not a list",
            ),
            (
                r"name'\'; DROP TABLE users; --'",
                "holds 2 statements; it takes one expression",
            ),
            (
                "1 FROM users",
                "has `FROM users` after the expression: it takes one expression, not a query",
            ),
            ("1 WHERE true", "has `WHERE true` after the expression"),
            ("1 ORDER BY 1", "has `ORDER BY 1` after"),
            ("1 LIMIT 1", "has `LIMIT 1` after"),
            ("1 FOR UPDATE", "has `FOR UPDATE` after"),
            (
                "1 UNION SELECT password FROM users",
                "has `UNION` after the expression",
            ),
            ("1 INTO t", "has an `INTO` clause"),
            ("DISTINCT 1", "starts with `DISTINCT`"),
            ("1 AS x", "has `AS x` after the expression"),
            ("1 x", "has `x` after the expression"),
            ("*", "is `*`"),
            ("a$$; DROP TABLE t; $$", "is not one SQL expression"),
            ("x$tag$; DROP TABLE t; $tag$", "is not one SQL expression"),
            ("1 +", "expects more at its end"),
        ];
        for (fragment, expected) in cases {
            let problem = value(fragment).unwrap_or_default();
            assert!(problem.contains(expected), "{fragment}: {problem}");
        }
    }

    #[test]
    fn a_condition_is_not_a_plain_value() {
        assert_eq!(expression_problem("deleted_at IS NULL", Place::Condition), None);
        assert_eq!(expression_problem("true", Place::Condition), None);
        assert!(expression_problem("1", Place::Condition)
            .unwrap()
            .starts_with("is a number (`1`), not a condition"));
        assert!(expression_problem("'x'", Place::Condition).is_some());
    }

    #[test]
    fn types_are_read_by_the_grammar_and_their_modifiers_checked() {
        for ty in [
            "boolean",
            "varchar(255)",
            "character varying(10)",
            "numeric(12, 2)",
            "Timestamp With Time Zone",
            "timestamp(3) with time zone",
            "time(0) without time zone",
            "timestamptz(6)",
            "interval day to second(3)",
            "interval year to month",
            "text[]",
            "int[][]",
            "integer[3]",
            "int ARRAY",
            "bit varying(5)",
            "double precision",
            "float(24)",
            "\"public\".\"mood\"",
            "public.mood",
            "\"mood\"[]",
            r#"U&"m\006Fod""#,
        ] {
            assert_eq!(type_problem(ty), None, "{ty}");
        }
        let cases = [
            (
                "text(10)",
                "gives `text` the modifier `(10)`, which PostgreSQL refuses: `text` takes none",
            ),
            (
                "varchar(0)",
                "gives `varchar` the length 0, which PostgreSQL refuses: it takes 1 to 10485760",
            ),
            ("char(0)", "gives `char` the length 0"),
            ("timestamp(7)", "gives `timestamp` the precision 7"),
            ("numeric(0)", "gives `numeric` the precision 0"),
            ("numeric(2, 3)", "gives `numeric` the scale 3"),
            ("int(4)", "gives `int` the modifier `(4)`"),
            ("varchar(x)", "has the modifier `(x)`; expected numbers"),
            ("setof int", "is a `setof` type"),
            ("text; DROP TABLE x", "holds 2 statements"),
            ("int DEFAULT 1", "is not one SQL type"),
            ("text COLLATE \"C\"", "is not a type alone"),
            (
                "int, text",
                "has a `,` at the top level: it takes one type, not a list",
            ),
            (
                "integr",
                "is not a PostgreSQL type zdm knows (`integr`); did you mean `integer`?",
            ),
            ("bigserial", "is `bigserial`, which adds a sequence default"),
            ("\"mood", "is not one SQL type"),
        ];
        for (ty, expected) in cases {
            let problem = type_problem(ty).unwrap_or_default();
            assert!(problem.starts_with(expected), "{ty}: {problem}");
        }
    }
    #[test]
    fn reads_names_the_columns_and_the_functions_of_a_fragment() {
        let found = reads(
            "lower(a.email) || \"Name\" || app.\"Score\"(total) + s.t.cents + coalesce(x, 1) \
             + EXTRACT(year FROM created_at) + (SELECT c.id FROM customers AS c WHERE c.email = email) \
             + (ROW(q)).f + x",
        );
        assert_eq!(found.columns, ["Name", "total", "x", "created_at", "email", "q"]);
        assert_eq!(found.functions, ["lower", "app.\"Score\"", "coalesce"]);
        assert_eq!(reads("1 +"), Reads::default());
        assert_eq!(reads("'a'::text").columns, Vec::<String>::new());
    }
}
