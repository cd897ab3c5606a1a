//! Definitions as PostgreSQL prints them (`pg_get_indexdef`, `pg_get_constraintdef`),
//! rewritten for the new column on the shared tokenizer, so a quoted name or a string is
//! never taken for a column reference.

use zdm_plan::lexer::{self, Kind};

/// A token as the rewriting reads it: only identifiers, quoted identifiers and the
/// punctuation around them matter; everything quoted is opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Space(&'a str),
    /// A bare identifier or keyword (keywords are printed in upper case).
    Word(&'a str),
    /// A double-quoted identifier, quotes included.
    Quoted(&'a str),
    /// A string constant, quotes and prefix included.
    Literal(&'a str),
    /// Numbers, operators and punctuation; `::` and `=>` are one token each.
    Other(&'a str),
}

impl<'a> Token<'a> {
    fn text(self) -> &'a str {
        match self {
            Token::Space(text)
            | Token::Word(text)
            | Token::Quoted(text)
            | Token::Literal(text)
            | Token::Other(text) => text,
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token<'_>> {
    lexer::tokenize(sql)
        .into_iter()
        .map(|token| match token.kind {
            Kind::Space | Kind::Comment => Token::Space(token.text),
            Kind::Word => Token::Word(token.text),
            Kind::QuotedIdent => Token::Quoted(token.text),
            Kind::String | Kind::DollarString => Token::Literal(token.text),
            Kind::Number | Kind::Parameter | Kind::Operator | Kind::Punctuation => Token::Other(token.text),
        })
        .collect()
}

/// Replaces references to the column `from` (as PostgreSQL quotes it) with `to` in a
/// definition printed by PostgreSQL. Names that are not column references are left
/// alone: qualified names and fields (after `.`), function names (before `(`), named
/// arguments (before `=>`), type names (after `::`), collations and access methods (after
/// `COLLATE`, `USING`), operator classes (after an expression). Inspect checks the result
/// on a scratch table, so a definition this misreads is refused, never carried wrong.
pub(super) fn substitute(sql: &str, from: &str, to: &str) -> String {
    let tokens = tokenize(sql);
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&index| !matches!(tokens[index], Token::Space(_)))
        .collect();
    let mut in_type = false;
    let mut type_depth = 0;
    let mut skip = vec![false; tokens.len()];
    for (position, &index) in significant.iter().enumerate() {
        let token = tokens[index];
        let previous = position.checked_sub(1).map(|p| tokens[significant[p]]);
        if in_type {
            match token {
                Token::Other("(") => type_depth += 1,
                Token::Other(")") if type_depth > 0 => type_depth -= 1,
                _ if type_depth > 0 => {}
                Token::Word(word) if word.bytes().any(|byte| byte.is_ascii_lowercase()) => {}
                Token::Quoted(_) | Token::Other(".") | Token::Other("[") | Token::Other("]") => {}
                _ => in_type = false,
            }
            if in_type {
                skip[index] = true;
                continue;
            }
        }
        if token == Token::Other("::") {
            in_type = true;
            type_depth = 0;
            continue;
        }
        let next = significant.get(position + 1).map(|&n| tokens[n]);
        let blocked = match previous {
            Some(Token::Other(".")) | Some(Token::Quoted(_)) | Some(Token::Other(")")) => true,
            Some(Token::Word(word)) => {
                word.bytes().any(|byte| byte.is_ascii_lowercase())
                    || word.eq_ignore_ascii_case("COLLATE")
                    || word.eq_ignore_ascii_case("USING")
            }
            _ => false,
        } || matches!(
            next,
            Some(Token::Other("(")) | Some(Token::Other("=>")) | Some(Token::Other("."))
        );
        skip[index] = blocked;
    }
    tokens
        .iter()
        .zip(&skip)
        .map(|(token, skip)| match token {
            Token::Word(text) | Token::Quoted(text) if !skip && *text == from => to,
            other => other.text(),
        })
        .collect()
}

/// The `USING …` part of an index definition, after `ON <table>`.
pub(super) fn index_tail(definition: Option<String>) -> Option<String> {
    let definition = definition?;
    let tokens = tokenize(&definition);
    let mut offset = 0;
    for token in &tokens {
        if *token == Token::Word("USING") {
            return Some(definition[offset..].to_owned());
        }
        offset += token.text().len();
    }
    None
}

/// A foreign key's definition split around `REFERENCES`: `(own columns…)`,
/// the referenced table, and the rest from the referenced columns on.
fn split_foreign_key(definition: &str) -> Option<(String, String, String)> {
    let tokens = tokenize(definition);
    let references = tokens
        .iter()
        .position(|token| *token == Token::Word("REFERENCES"))?;
    let open = references
        + tokens[references..]
            .iter()
            .position(|token| *token == Token::Other("("))?;
    let text =
        |range: std::ops::Range<usize>| tokens[range].iter().map(|token| token.text()).collect::<String>();
    Some((
        text(0..references),
        text(references + 1..open).trim().to_owned(),
        text(open..tokens.len()),
    ))
}

/// A foreign key with its own columns substituted (and those of `ON DELETE SET NULL (…)`),
/// the referenced table and columns untouched.
pub(super) fn substitute_foreign_key(definition: &str, from: &str, to: &str) -> Option<String> {
    let (own, target, rest) = split_foreign_key(definition)?;
    let tokens = tokenize(&rest);
    let mut depth = 0;
    let mut end = 0;
    for token in &tokens {
        end += token.text().len();
        match token {
            Token::Other("(") => depth += 1,
            Token::Other(")") => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    Some(format!(
        "{}REFERENCES {target}{}{}",
        substitute(&own, from, to),
        &rest[..end],
        substitute(&rest[end..], from, to)
    ))
}

/// The foreign key pointed at another table (a scratch copy of the referenced one).
pub(super) fn retarget_foreign_key(definition: &str, table: &str) -> Option<String> {
    let (own, _, rest) = split_foreign_key(definition)?;
    Some(format!("{own}REFERENCES {table}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_references_are_substituted_and_nothing_else() {
        assert_eq!(
            substitute("CHECK ((name <> ''::text))", "name", "\"full_name\""),
            "CHECK ((\"full_name\" <> ''::text))"
        );
        // A cast to the type `name`, a function `name(…)`, a string and a field stay.
        assert_eq!(
            substitute(
                "CHECK (((name)::name <> name('name'::text)) AND ((t.name) > 'x') AND (name IS NOT NULL))",
                "name",
                "n2"
            ),
            "CHECK (((n2)::name <> name('name'::text)) AND ((t.name) > 'x') AND (n2 IS NOT NULL))"
        );
        assert_eq!(
            substitute(
                "USING btree (lower(name) text_pattern_ops DESC NULLS LAST, id) INCLUDE (name) \
                 WHERE ((((name)::character varying(10))::text <> 'a'::text) AND (name = 'b'::text))",
                "name",
                "\"n\""
            ),
            "USING btree (lower(\"n\") text_pattern_ops DESC NULLS LAST, id) INCLUDE (\"n\") \
             WHERE ((((\"n\")::character varying(10))::text <> 'a'::text) AND (\"n\" = 'b'::text))"
        );
        assert_eq!(
            substitute("CHECK ((\"Weird col\" <> E'it\\'s name'))", "\"Weird col\"", "x"),
            "CHECK ((x <> E'it\\'s name'))"
        );
        assert_eq!(
            substitute("USING btree (\"C\" COLLATE \"C\")", "\"C\"", "c2"),
            "USING btree (c2 COLLATE \"C\")"
        );
        assert_eq!(
            substitute("CHECK ((f(x => code) > 0))", "x", "y"),
            "CHECK ((f(x => code) > 0))"
        );
    }

    #[test]
    fn foreign_keys_keep_the_referenced_columns() {
        assert_eq!(
            substitute_foreign_key(
                "FOREIGN KEY (code, id) REFERENCES parents(code, id) ON DELETE SET NULL (code) DEFERRABLE",
                "code",
                "new_code"
            )
            .unwrap(),
            "FOREIGN KEY (new_code, id) REFERENCES parents(code, id) ON DELETE SET NULL (new_code) DEFERRABLE"
        );
        assert_eq!(
            retarget_foreign_key("FOREIGN KEY (a) REFERENCES public.p(a) MATCH FULL", "pg_temp.x").unwrap(),
            "FOREIGN KEY (a) REFERENCES pg_temp.x(a) MATCH FULL"
        );
        assert_eq!(substitute_foreign_key("CHECK (a > 0)", "a", "b"), None);
    }

    #[test]
    fn index_definitions_are_cut_after_the_table() {
        assert_eq!(
            index_tail(Some(
                "CREATE UNIQUE INDEX \"a USING b\" ON public.t USING btree (x) NULLS NOT DISTINCT".to_owned()
            ))
            .as_deref(),
            Some("USING btree (x) NULLS NOT DISTINCT")
        );
        assert_eq!(index_tail(None), None);
    }
}
