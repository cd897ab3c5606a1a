//! Reading the attribute's arguments ([`Args`], which the operation registry writes):
//! darling's errors in zdm's voice, the one operation chosen, the id checked.

use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use darling::FromMeta;
use proc_macro2::Span;

pub use crate::ops::Args;
use crate::ops::{Operation, OPERATIONS};
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

    /// The one operation, or an error at the second one or at the attribute.
    pub fn operation(&self, items: &[NestedMeta], errors: &mut Errors) -> Option<&dyn Operation> {
        let written: Vec<(String, Span)> = items
            .iter()
            .filter_map(|item| match item {
                NestedMeta::Meta(meta) => {
                    let name = meta.path().get_ident()?.to_string();
                    OPERATIONS
                        .contains(&name.as_str())
                        .then(|| (name, syn::spanned::Spanned::span(meta.path())))
                }
                NestedMeta::Lit(_) => None,
            })
            .collect();
        if let [first, second, ..] = written.as_slice() {
            validate::push(
                errors,
                second.1,
                format_args!(
                    "one declaration is one schema change: `{}` follows `{}`; declare it on a struct of its own",
                    second.0, first.0
                ),
            );
            return None;
        }
        match self.first_operation() {
            Some(operation) => Some(operation),
            None => {
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
                None
            }
        }
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
    // darling's location: the operation, then any nested list inside it
    // (`split_table/into[0]`).
    let (message, location) = match text.rsplit_once(" at ") {
        Some((message, location))
            if location
                .split('/')
                .next()
                .is_some_and(|first| OPERATIONS.contains(&first)) =>
        {
            (message.to_owned(), location.split('/').collect::<Vec<_>>())
        }
        _ => (text.clone(), Vec::new()),
    };
    let operation = location.first().copied();
    let location_span = located(items, &location);
    let span = error
        .explicit_span()
        .or(location_span)
        .unwrap_or_else(Span::call_site);
    let within = location.last().map_or_else(
        || "`#[zero_downtime]`".to_owned(),
        |list| format!("`{}`", list.split('[').next().unwrap_or(list)),
    );
    let rewritten = if let Some(field) = message.strip_prefix("Missing field ") {
        format!("{within} needs {field}")
    } else if let Some(rest) = message.strip_prefix("Unknown field: ") {
        let (rest, available) = rest.split_once(". Available values: ").unwrap_or((rest, ""));
        let (field, suggestion) = rest.split_once(". Did you mean ").unwrap_or((rest, ""));
        let mut text = format!("{within} has no key {field}");
        if let Some(suggestion) = suggestion.strip_suffix('?') {
            text.push_str(&format!("; did you mean {suggestion}?"));
        } else if !available.is_empty() {
            text.push_str(&format!("; it takes {available}"));
        }
        if operation.is_none() && suggestion.is_empty() {
            text.push_str(&format!(
                "; it takes `id` and one operation: {}",
                OPERATIONS
                    .iter()
                    .map(|op| format!("`{op}(…)`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        text
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
