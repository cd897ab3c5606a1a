//! The attribute's arguments as darling reads them: `id = "…"` and exactly one operation.

use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use darling::FromMeta;
use proc_macro2::Span;

use crate::ops::add_column::AddColumn;
use crate::ops::change_type::ChangeType;
use crate::ops::rename_column::RenameColumn;
use crate::validate::{self, Errors};

/// The operations, as written in the attribute.
pub const OPERATIONS: &[&str] = &["add_column", "rename_column", "change_type"];

#[derive(Debug, FromMeta)]
pub struct Args {
    pub id: SpannedValue<String>,
    pub add_column: Option<AddColumn>,
    pub rename_column: Option<RenameColumn>,
    pub change_type: Option<ChangeType>,
}

/// One operation of a declaration, validated.
pub enum Operation<'a> {
    AddColumn(&'a AddColumn),
    RenameColumn(&'a RenameColumn),
    ChangeType(&'a ChangeType),
}

impl Operation<'_> {
    pub fn validate(&self, errors: &mut Errors) {
        match self {
            Operation::AddColumn(operation) => operation.validate(errors),
            Operation::RenameColumn(operation) => operation.validate(errors),
            Operation::ChangeType(operation) => operation.validate(errors),
        }
    }

    pub fn plan(&self, id: &str, description: &str) -> crate::model::Plan {
        match self {
            Operation::AddColumn(operation) => operation.plan(id, description),
            Operation::RenameColumn(operation) => operation.plan(id, description),
            Operation::ChangeType(operation) => operation.plan(id, description),
        }
    }
}

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
    pub fn operation(&self, items: &[NestedMeta], errors: &mut Errors) -> Option<Operation<'_>> {
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
        let chosen = [
            self.add_column.as_ref().map(Operation::AddColumn),
            self.rename_column.as_ref().map(Operation::RenameColumn),
            self.change_type.as_ref().map(Operation::ChangeType),
        ];
        match chosen.into_iter().flatten().next() {
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
    let (message, operation) = match text.rsplit_once(" at ") {
        Some((message, location)) if OPERATIONS.contains(&location) => (message.to_owned(), Some(location)),
        _ => (text.clone(), None),
    };
    let operation_span = operation.and_then(|operation| {
        items.iter().find_map(|item| match item {
            NestedMeta::Meta(meta) if meta.path().is_ident(operation) => {
                Some(syn::spanned::Spanned::span(meta.path()))
            }
            _ => None,
        })
    });
    let span = error
        .explicit_span()
        .or(operation_span)
        .unwrap_or_else(Span::call_site);
    let within = operation.map_or_else(
        || "`#[zero_downtime]`".to_owned(),
        |operation| format!("`{operation}`"),
    );
    let rewritten = if let Some(field) = message.strip_prefix("Missing field ") {
        format!("{within} needs {field}")
    } else if let Some(rest) = message.strip_prefix("Unknown field: ") {
        let (field, suggestion) = rest.split_once(". Did you mean ").unwrap_or((rest, ""));
        let (field, available) = field.split_once(". Available values: ").unwrap_or((field, ""));
        let mut text = format!("{within} has no key {field}");
        if !available.is_empty() {
            text.push_str(&format!("; it takes {available}"));
        }
        if let Some(suggestion) = suggestion.strip_suffix('?') {
            text.push_str(&format!("; did you mean {suggestion}?"));
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
        chars
            .next()
            .map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
    };
    syn::Error::new(span, rewritten).into()
}
