//! Reading the attribute's arguments ([`Args`], which the operation registry writes):
//! darling's errors in zdm's voice, the operations in written order, the id checked.

use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use darling::FromMeta;
use proc_macro2::Span;

use crate::compose::Written;
pub use crate::ops::Args;
use crate::ops::{keys, OPERATIONS};
use crate::validate::{self, Errors};

impl Args {
    /// Parses the attribute's tokens; darling reports unknown keys with a suggestion,
    /// duplicates and missing keys.
    pub fn parse(attr: proc_macro2::TokenStream) -> darling::Result<(Args, Vec<NestedMeta>)> {
        let items = NestedMeta::parse_meta_list(attr)?;
        match Args::from_list(&items) {
            Ok(args) => Ok((args, items)),
            Err(error) => Err(darling::Error::multiple(
                error
                    .flatten()
                    .into_iter()
                    .map(|error| restyle(error, &items))
                    .collect(),
            )),
        }
    }

    /// The operations in the order they were written, or an error at the attribute when
    /// there is none.
    pub fn operations(&self, items: &[NestedMeta], errors: &mut Errors) -> Vec<Written<'_>> {
        let mut seen: Vec<&str> = Vec::new();
        let mut written = Vec::new();
        for item in items {
            let NestedMeta::Meta(meta) = item else { continue };
            let Some(name) = meta.path().get_ident().map(ToString::to_string) else {
                continue;
            };
            let nth = seen.iter().filter(|kind| **kind == name).count();
            if let Some((name, operation)) = self.written(&name, nth) {
                seen.push(name);
                written.push(Written {
                    name,
                    span: syn::spanned::Spanned::span(meta.path()),
                    operation,
                });
            }
        }
        if written.is_empty() {
            validate::push(
                errors,
                Span::call_site(),
                format_args!(
                    "`#[zero_downtime]` needs an operation after the id, one of: {}",
                    OPERATIONS
                        .iter()
                        .map(|op| format!("`{op}(…)`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        written
    }
}

/// Ids name the state row and appear in logs and CLI arguments.
pub fn validate_id(id: &SpannedValue<String>, errors: &mut Errors) {
    let valid = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        validate::push(
            errors,
            id.span(),
            "`id` must be 1 to 200 characters of letters, digits, `_`, `-` and `.`, such as \"2026_11_24_01_email_verified\"",
        );
    }
}

/// Rewrites darling's messages in zdm's voice: lower case, naming the operation as the
/// user wrote it, and spanned at that operation when darling has no better token.
fn restyle(error: darling::Error, items: &[NestedMeta]) -> darling::Error {
    let text = error.to_string();
    // darling's location: the operation, numbered as operations of one kind may be
    // written several times (`add_column[1]`), then any nested list inside it
    // (`split_table[0]/into[0]`).
    let (message, location) = match text.rsplit_once(" at ") {
        Some((message, location))
            if location
                .split('/')
                .next()
                .is_some_and(|first| OPERATIONS.contains(&unnumbered(first))) =>
        {
            (message.to_owned(), location.split('/').collect::<Vec<_>>())
        }
        _ => (text.clone(), Vec::new()),
    };
    // A top-level key's value (`id = 20260101`): darling names the key after " at ".
    let (message, top_level_key) = match text.rsplit_once(" at ") {
        Some((before, key)) if location.is_empty() && !key.contains(' ') => {
            (before.to_owned(), Some(key.to_owned()))
        }
        _ => (message, None),
    };
    let operation = location.first().map(|first| unnumbered(first));
    let location_span = located(items, &location);
    let span = error
        .explicit_span()
        .or(location_span)
        .unwrap_or_else(Span::call_site);
    let within = location.last().map_or_else(
        || "`#[zero_downtime]`".to_owned(),
        |list| format!("`{}`", list.split('[').next().unwrap_or(list)),
    );
    let key = location
        .get(1..)
        .and_then(|path| path.last())
        .map(|key| key.split('[').next().unwrap_or(key).to_owned())
        .or(top_level_key);
    let wrong_kind = message
        .strip_prefix("Unexpected type `")
        .and_then(|found| found.strip_suffix('`'))
        .zip(key.as_deref())
        .and_then(|(found, key)| wrong_kind(key, found));
    let rewritten = if let Some(text) = wrong_kind {
        text
    } else if let Some(field) = message.strip_prefix("Missing field ") {
        format!("{within} needs {field}")
    } else if let Some(rest) = message.strip_prefix("Unknown field: ") {
        unknown_key(rest, &within, operation, &location)
    } else if let Some(field) = message.strip_prefix("Duplicate field ") {
        format!("{field} is given twice in {within}")
    } else {
        let mut chars = message.chars();
        let message: String = chars
            .next()
            .map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect());
        // A key's own parse error (`add_index/columns`): name the key, not darling's path.
        if location.len() >= 2 {
            format!("{within}: {message}")
        } else {
            message
        }
    };
    syn::Error::new(span, rewritten).into()
}

/// A segment of darling's location without its number: `add_column` for `add_column[1]`.
fn unnumbered(segment: &str) -> &str {
    segment.split('[').next().unwrap_or(segment)
}

/// darling's "Unknown field" message in zdm's words: the key, darling's suggestion, and the
/// keys the operation takes (or the top level's, outside any operation).
fn unknown_key(rest: &str, within: &str, operation: Option<&str>, location: &[&str]) -> String {
    let (rest, available) = rest.split_once(". Available values: ").unwrap_or((rest, ""));
    let (field, suggestion) = rest.split_once(". Did you mean ").unwrap_or((rest, ""));
    let mut text = format!("{within} has no key {field}");
    if let Some(suggestion) = suggestion.strip_suffix('?') {
        text.push_str(&format!("; did you mean {suggestion}?"));
    }
    // The keys of the operation itself are listed whatever darling offered: it offers
    // them only without a suggestion and for fewer than ten keys.
    let operation_keys = operation
        .filter(|_| location.len() == 1)
        .and_then(keys)
        .map(|keys| {
            keys.iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", ")
        });
    if let Some(listed) = operation_keys {
        let joint = if suggestion.is_empty() { "; it" } else { " It" };
        text.push_str(&format!("{joint} takes {listed}"));
    } else if suggestion.is_empty() && !available.is_empty() {
        text.push_str(&format!("; it takes {available}"));
    }
    if operation.is_none() && suggestion.is_empty() {
        text.push_str(&format!(
            "; it takes `id`, `after(…)` and operations, in the order they run: {}",
            OPERATIONS
                .iter()
                .map(|op| format!("`{op}(…)`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}

/// Keys that are flags: present or absent, never given a value.
const FLAGS: &[&str] = &[
    "not_null",
    "index",
    "unique",
    "existing_column",
    "triggers_checked",
];

/// What a key takes, for a value of the wrong kind (`id = 20260101`, `not_null = "yes"`).
fn wrong_kind(key: &str, found: &str) -> Option<String> {
    if key == "after" {
        return Some(
            "`after` takes the declaration structs, not strings: write `after(AddEmail, …)` with the structs' names"
                .to_owned(),
        );
    }
    if FLAGS.contains(&key) {
        return Some(format!("`{key}` is a flag: write `{key}`"));
    }
    // A string where a list or a name is expected has a message of its own, darling's.
    (found != "string").then(|| format!("`{key}` takes a string, in double quotes: `{key} = \"…\"`"))
}

/// The span of the innermost list `location` names (`split_table/into[1]`: the second
/// `into(…)` in `split_table(…)`), as far as it can be followed.
fn located(items: &[NestedMeta], location: &[&str]) -> Option<Span> {
    let mut items = items.to_vec();
    let mut span = None;
    for segment in location {
        let (name, index) = match segment.split_once('[') {
            Some((name, index)) => (name, index.trim_end_matches(']').parse().unwrap_or(0)),
            None => (*segment, 0),
        };
        let found = items
            .iter()
            .filter_map(|item| match item {
                NestedMeta::Meta(meta) if meta.path().is_ident(name) => Some(meta.clone()),
                _ => None,
            })
            .nth(index)?;
        span = Some(syn::spanned::Spanned::span(found.path()));
        items = match &found {
            syn::Meta::List(list) => NestedMeta::parse_meta_list(list.tokens.clone()).ok()?,
            _ => break,
        };
    }
    span
}
