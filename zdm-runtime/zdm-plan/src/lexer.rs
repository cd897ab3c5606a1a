//! The one SQL tokenizer of zdm, following PostgreSQL's lexer (`scan.l`) closely enough that
//! a quoted name, a string or a comment is never mistaken for code, nor code for one. The
//! runtime fills placeholders with it and rewrites catalog definitions with it; nothing in
//! zdm scans SQL any other way.
//!
//! It splits text; it does not judge it: an unterminated string or comment runs to the end
//! of the text as one token, which the caller can see through [`Token::closed`].

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Spaces, tabs and line breaks.
    Space,
    /// `-- …` to the end of the line, or `/* … */` (nested, as PostgreSQL nests them).
    Comment,
    /// An unquoted identifier or keyword: a letter, `_` or non-ASCII character, then those,
    /// digits and `$`.
    Word,
    /// A double-quoted identifier (`"a ""b"""`), also `U&"…"`.
    QuotedIdent,
    /// A string constant: `'…'`, `E'…'` (backslash escapes), `U&'…'`, `B'…'`, `X'…'`, `N'…'`.
    String,
    /// A dollar-quoted string constant, `$$…$$` or `$tag$…$tag$`.
    DollarString,
    /// A numeric constant.
    Number,
    /// A positional parameter, `$1`.
    Parameter,
    /// An operator (`+`, `<=`, `!~*`, …), or `::`, `=>`, `:=`.
    Operator,
    /// One of `( ) [ ] , ; : .`, or any character SQL gives no meaning (`{`, `}`, `\`).
    Punctuation,
}

/// One token: its kind, its text exactly as written, and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: Kind,
    /// The token's text, quotes, prefixes and comment markers included.
    pub text: &'a str,
    /// Its byte offset in the tokenized text.
    pub start: usize,
}

impl<'a> Token<'a> {
    /// Whether the token is code rather than a quoted run or a comment: the only place a
    /// placeholder may be filled in or a column reference rewritten.
    pub fn is_code(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Comment | Kind::QuotedIdent | Kind::String | Kind::DollarString
        )
    }

    /// Whether a quoted token or block comment ends before the text does.
    pub fn closed(&self) -> bool {
        match self.kind {
            Kind::String => closes(self.text, '\'', backslash_escapes(self.text)),
            Kind::QuotedIdent => closes(self.text, '"', false),
            Kind::DollarString => dollar_tag(self.text)
                .is_some_and(|tag| self.text.len() >= 2 * tag.len() && self.text.ends_with(tag)),
            Kind::Comment if self.text.starts_with("/*") => block_comment(self.text) == Some(self.text.len()),
            _ => true,
        }
    }

    /// For a dollar-quoted string: its tag (`$$`, `$zdm$`) and its body.
    pub fn dollar_parts(&self) -> Option<(&'a str, &'a str)> {
        if self.kind != Kind::DollarString {
            return None;
        }
        let tag = dollar_tag(self.text)?;
        let body_end = if self.closed() {
            self.text.len() - tag.len()
        } else {
            self.text.len()
        };
        Some((tag, &self.text[tag.len()..body_end]))
    }
}

/// The tokens of `sql`, in order; their texts concatenate back to `sql`.
pub fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < sql.len() {
        let (kind, len) = next(&sql[at..]);
        tokens.push(Token {
            kind,
            text: &sql[at..at + len],
            start: at,
        });
        at += len;
    }
    tokens
}

/// The kind and byte length of the token at the start of `rest` (never empty).
fn next(rest: &str) -> (Kind, usize) {
    let first = rest.chars().next().expect("`next` is called on non-empty text");
    if first.is_whitespace() {
        let len = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        return (Kind::Space, len);
    }
    if rest.starts_with("--") {
        return (Kind::Comment, rest.find('\n').unwrap_or(rest.len()));
    }
    if rest.starts_with("/*") {
        return (Kind::Comment, block_comment(rest).unwrap_or(rest.len()));
    }
    match first {
        '\'' => (Kind::String, quoted_run(rest, '\'', false).unwrap_or(rest.len())),
        '"' => (
            Kind::QuotedIdent,
            quoted_run(rest, '"', false).unwrap_or(rest.len()),
        ),
        '$' => dollar(rest),
        c if c.is_ascii_digit() => (Kind::Number, number(rest)),
        '.' if rest[1..].starts_with(|c: char| c.is_ascii_digit()) => (Kind::Number, number(rest)),
        c if starts_word(c) => word(rest),
        _ => operator_or_punctuation(rest),
    }
}

fn starts_word(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn continues_word(c: char) -> bool {
    starts_word(c) || c.is_ascii_digit() || c == '$'
}

/// A word, or the prefix of a string or quoted identifier that the word is: PostgreSQL
/// reads `E'…'` as one escape string only when the `E` stands alone, so `name'…'` is the
/// word `name` followed by a plain string (the longest match wins, as in flex).
fn word(rest: &str) -> (Kind, usize) {
    let len = rest.find(|c: char| !continues_word(c)).unwrap_or(rest.len());
    let prefix = &rest[..len];
    let after = &rest[len..];
    match (prefix.to_ascii_uppercase().as_str(), after.chars().next()) {
        ("E", Some('\'')) => (
            Kind::String,
            len + quoted_run(after, '\'', true).unwrap_or(after.len()),
        ),
        ("B" | "X" | "N", Some('\'')) => (
            Kind::String,
            len + quoted_run(after, '\'', false).unwrap_or(after.len()),
        ),
        ("U", Some('&')) if after[1..].starts_with('\'') => (
            Kind::String,
            len + 1 + quoted_run(&after[1..], '\'', false).unwrap_or(after.len() - 1),
        ),
        ("U", Some('&')) if after[1..].starts_with('"') => (
            Kind::QuotedIdent,
            len + 1 + quoted_run(&after[1..], '"', false).unwrap_or(after.len() - 1),
        ),
        _ => (Kind::Word, len),
    }
}

/// The length of the quoted run opening `text` (quotes included), with doubled quotes and,
/// in escape strings, backslashes escaping; `None` when it is never closed.
fn quoted_run(text: &str, quote: char, backslashes: bool) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if backslashes && c == '\\' {
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

/// Whether the quoted run of a token (after its prefix: `E`, `U&`, …) ends where it does.
fn closes(text: &str, quote: char, backslashes: bool) -> bool {
    let opening = text.find(quote).unwrap_or(0);
    quoted_run(&text[opening..], quote, backslashes) == Some(text.len() - opening)
}

/// Whether a string token is an escape string, where backslashes escape.
fn backslash_escapes(text: &str) -> bool {
    text.starts_with(['E', 'e'])
}

/// The length of the nested block comment opening `text`; `None` when it is never closed.
fn block_comment(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        if rest.starts_with("/*") {
            depth += 1;
            at += 2;
        } else if rest.starts_with("*/") {
            depth -= 1;
            at += 2;
            if depth == 0 {
                return Some(at);
            }
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    None
}

/// The dollar-quote tag (`$$`, `$tag$`) opening `text`, if one does: a tag is a word
/// without `$` that does not start with a digit.
fn dollar_tag(text: &str) -> Option<&str> {
    let end = text[1..].find('$')? + 1;
    let tag = &text[1..end];
    let valid = tag.chars().all(|c| starts_word(c) || c.is_ascii_digit())
        && !tag.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| &text[..=end])
}

/// A dollar-quoted string, a parameter, or a lone `$`.
fn dollar(rest: &str) -> (Kind, usize) {
    if let Some(tag) = dollar_tag(rest) {
        let body = &rest[tag.len()..];
        let len = body
            .find(tag)
            .map_or(rest.len(), |end| tag.len() + end + tag.len());
        return (Kind::DollarString, len);
    }
    let digits = rest[1..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len() - 1);
    if digits > 0 {
        (Kind::Parameter, 1 + digits)
    } else {
        (Kind::Punctuation, 1)
    }
}

/// A numeric constant: digits (with `_` separators, PostgreSQL 16+), a fraction, an
/// exponent, or a `0x`/`0o`/`0b` integer. Letters glued to it stay with it, as PostgreSQL
/// refuses them (`123abc` is "trailing junk").
fn number(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let exponent_sign = matches!(byte, b'+' | b'-')
            && at > 0
            && matches!(bytes[at - 1], b'e' | b'E')
            && !rest[..at].starts_with("0x")
            && !rest[..at].starts_with("0X");
        let fraction = byte == b'.' && !rest[at..].starts_with("..");
        if byte.is_ascii_alphanumeric() || byte == b'_' || exponent_sign || fraction {
            at += 1;
        } else {
            break;
        }
    }
    at
}

/// The characters PostgreSQL's operators are made of.
const OPERATOR_CHARS: &str = "+-*/<>=~!@#%^&|`?";

/// An operator (PostgreSQL's rule: the longest run of operator characters, cut before a
/// comment start, and a multi-character operator does not end in `+` or `-` unless it
/// holds one of `~ ! @ # % ^ & | \` ?`), `::`, `:=`, or one punctuation character.
fn operator_or_punctuation(rest: &str) -> (Kind, usize) {
    if rest.starts_with("::") || rest.starts_with(":=") {
        return (Kind::Operator, 2);
    }
    let mut len = rest
        .find(|c: char| !OPERATOR_CHARS.contains(c))
        .unwrap_or(rest.len());
    if len == 0 {
        return (Kind::Punctuation, rest.chars().next().map_or(1, char::len_utf8));
    }
    for comment in ["--", "/*"] {
        if let Some(at) = rest[..len].find(comment) {
            len = len.min(at.max(1));
        }
    }
    let run = &rest[..len];
    if len > 1 && !run.contains(['~', '!', '@', '#', '%', '^', '&', '|', '`', '?']) {
        len = run.trim_end_matches(['+', '-']).len().max(1);
    }
    (Kind::Operator, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, &str)> {
        let tokens = tokenize(sql);
        assert_eq!(
            tokens.iter().map(|token| token.text).collect::<String>(),
            sql,
            "lossless"
        );
        tokens
            .into_iter()
            .filter(|token| token.kind != Kind::Space)
            .map(|token| (token.kind, token.text))
            .collect()
    }

    #[test]
    fn a_word_before_a_quote_is_not_an_escape_string_prefix() {
        // PostgreSQL reads `name '\'` as a typed literal holding one backslash; what follows
        // is code again.
        assert_eq!(
            kinds(r"name'\'; DROP"),
            [
                (Kind::Word, "name"),
                (Kind::String, r"'\'"),
                (Kind::Punctuation, ";"),
                (Kind::Word, "DROP")
            ]
        );
        assert_eq!(
            kinds(r"E'a\'b' x"),
            [(Kind::String, r"E'a\'b'"), (Kind::Word, "x")]
        );
        assert_eq!(kinds(r"e'\\' x"), [(Kind::String, r"e'\\'"), (Kind::Word, "x")]);
    }

    #[test]
    fn every_quoting_form_is_one_token() {
        assert_eq!(kinds("'it''s'"), [(Kind::String, "'it''s'")]);
        assert_eq!(kinds(r#""a ""b""""#), [(Kind::QuotedIdent, r#""a ""b""""#)]);
        assert_eq!(
            kinds("U&'d\\0061t' U&\"x\""),
            [(Kind::String, "U&'d\\0061t'"), (Kind::QuotedIdent, "U&\"x\"")]
        );
        assert_eq!(
            kinds("B'101' X'ff' N'n'"),
            [
                (Kind::String, "B'101'"),
                (Kind::String, "X'ff'"),
                (Kind::String, "N'n'")
            ]
        );
        assert_eq!(kinds("$$ a; b $$"), [(Kind::DollarString, "$$ a; b $$")]);
        assert_eq!(
            kinds("$tag$ x $$ y $tag$ z"),
            [(Kind::DollarString, "$tag$ x $$ y $tag$"), (Kind::Word, "z")]
        );
        assert_eq!(kinds("$ünï$ x $ünï$"), [(Kind::DollarString, "$ünï$ x $ünï$")]);
    }

    #[test]
    fn a_dollar_inside_a_word_is_part_of_it() {
        assert_eq!(
            kinds("col$1 + $2"),
            [
                (Kind::Word, "col$1"),
                (Kind::Operator, "+"),
                (Kind::Parameter, "$2")
            ]
        );
        assert_eq!(kinds("a$b$c"), [(Kind::Word, "a$b$c")]);
    }

    #[test]
    fn comments_nest_and_run_to_the_end_of_the_line() {
        assert_eq!(
            kinds("/* a /* nested */ comment */ 1 -- rest\n2"),
            [
                (Kind::Comment, "/* a /* nested */ comment */"),
                (Kind::Number, "1"),
                (Kind::Comment, "-- rest"),
                (Kind::Number, "2")
            ]
        );
        assert_eq!(kinds("1--2"), [(Kind::Number, "1"), (Kind::Comment, "--2")]);
        assert_eq!(
            kinds("a*/*c*/b"),
            [
                (Kind::Word, "a"),
                (Kind::Operator, "*"),
                (Kind::Comment, "/*c*/"),
                (Kind::Word, "b")
            ]
        );
    }

    #[test]
    fn operators_follow_postgresql_rules() {
        assert_eq!(
            kinds("a<=b"),
            [(Kind::Word, "a"), (Kind::Operator, "<="), (Kind::Word, "b")]
        );
        assert_eq!(
            kinds("x::int"),
            [(Kind::Word, "x"), (Kind::Operator, "::"), (Kind::Word, "int")]
        );
        assert_eq!(
            kinds("f(a => 1)")[2..4],
            [(Kind::Word, "a"), (Kind::Operator, "=>")]
        );
        // `=-` is `=` then `-`: a trailing minus belongs to the operand.
        assert_eq!(
            kinds("a=-1"),
            [
                (Kind::Word, "a"),
                (Kind::Operator, "="),
                (Kind::Operator, "-"),
                (Kind::Number, "1")
            ]
        );
        assert_eq!(kinds("a@-1")[1], (Kind::Operator, "@-"));
        assert_eq!(
            kinds("(a,b);")[3..],
            [
                (Kind::Word, "b"),
                (Kind::Punctuation, ")"),
                (Kind::Punctuation, ";")
            ]
        );
    }

    #[test]
    fn numbers_take_fractions_exponents_and_separators() {
        assert_eq!(kinds("1.5e-3"), [(Kind::Number, "1.5e-3")]);
        assert_eq!(kinds(".5"), [(Kind::Number, ".5")]);
        assert_eq!(kinds("1_000_000"), [(Kind::Number, "1_000_000")]);
        assert_eq!(
            kinds("0x1F-1"),
            [(Kind::Number, "0x1F"), (Kind::Operator, "-"), (Kind::Number, "1")]
        );
        assert_eq!(
            kinds("a[1:2]")[2..5],
            [(Kind::Number, "1"), (Kind::Punctuation, ":"), (Kind::Number, "2")]
        );
    }

    #[test]
    fn unterminated_runs_reach_the_end_and_say_so() {
        let tokens = tokenize("'open");
        assert_eq!((tokens.len(), tokens[0].closed()), (1, false));
        assert!(!tokenize("\"open")[0].closed());
        assert!(!tokenize("$x$ open")[0].closed());
        assert!(!tokenize("/* open")[0].closed());
        assert!(tokenize("'done'")[0].closed());
        assert!(tokenize(r"E'\''")[0].closed());
        assert_eq!(tokenize("$x$body$x$")[0].dollar_parts(), Some(("$x$", "body")));
    }
}
