//! The attribute's arguments as darling reads them: `id = "…"` and exactly one operation.

use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use darling::FromMeta;
use proc_macro2::Span;

use crate::ops::add_column::AddColumn;
use crate::ops::add_foreign_key::AddForeignKey;
use crate::ops::add_index::AddIndex;
use crate::ops::add_not_null::AddNotNull;
use crate::ops::change_type::ChangeType;
use crate::ops::rename_column::RenameColumn;
use crate::ops::rename_table::RenameTable;
use crate::ops::split_table::SplitTable;
use crate::validate::{self, Errors};

/// The operations, as written in the attribute.
pub const OPERATIONS: &[&str] = &[
    "add_column",
    "add_foreign_key",
    "add_index",
    "add_not_null",
    "change_type",
    "rename_column",
    "rename_table",
    "split_table",
];

#[derive(Debug, FromMeta)]
pub struct Args {
    pub id: SpannedValue<String>,
    /// Declarations that must run before this one, each creating a table or column it uses.
    pub after: Option<darling::util::PathList>,
    pub add_column: Option<AddColumn>,
    pub add_index: Option<AddIndex>,
    pub rename_table: Option<RenameTable>,
    pub add_foreign_key: Option<AddForeignKey>,
    pub add_not_null: Option<AddNotNull>,
    pub split_table: Option<SplitTable>,
    pub rename_column: Option<RenameColumn>,
    pub change_type: Option<ChangeType>,
}

/// One operation of a declaration, validated.
// Named after the attribute's keys, which need not share a prefix once more operations land.
#[allow(clippy::enum_variant_names)]
pub enum Operation<'a> {
    AddColumn(&'a AddColumn),
    AddIndex(&'a AddIndex),
    RenameTable(&'a RenameTable),
    AddForeignKey(&'a AddForeignKey),
    AddNotNull(&'a AddNotNull),
    SplitTable(&'a SplitTable),
    RenameColumn(&'a RenameColumn),
    ChangeType(&'a ChangeType),
}

impl Operation<'_> {
    pub fn validate(&self, errors: &mut Errors) {
        match self {
            Operation::AddColumn(operation) => operation.validate(errors),
            Operation::AddIndex(operation) => operation.validate(errors),
            Operation::RenameTable(operation) => operation.validate(errors),
            Operation::AddForeignKey(operation) => operation.validate(errors),
            Operation::AddNotNull(operation) => operation.validate(errors),
            Operation::SplitTable(operation) => operation.validate(errors),
            Operation::RenameColumn(operation) => operation.validate(errors),
            Operation::ChangeType(operation) => operation.validate(errors),
        }
    }

    pub fn relations(&self) -> crate::relations::Relations {
        match self {
            Operation::AddColumn(operation) => operation.relations(),
            Operation::AddIndex(operation) => operation.relations(),
            Operation::RenameTable(operation) => operation.relations(),
            Operation::AddForeignKey(operation) => operation.relations(),
            Operation::AddNotNull(operation) => operation.relations(),
            Operation::SplitTable(operation) => operation.relations(),
            Operation::RenameColumn(operation) => operation.relations(),
            Operation::ChangeType(operation) => operation.relations(),
        }
    }

    pub fn plan(&self, id: &str, description: &str) -> zdm_plan::Plan {
        match self {
            Operation::AddColumn(operation) => operation.plan(id, description),
            Operation::AddIndex(operation) => operation.plan(id, description),
            Operation::RenameTable(operation) => operation.plan(id, description),
            Operation::AddForeignKey(operation) => operation.plan(id, description),
            Operation::AddNotNull(operation) => operation.plan(id, description),
            Operation::SplitTable(operation) => operation.plan(id, description),
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
            self.add_index.as_ref().map(Operation::AddIndex),
            self.rename_table.as_ref().map(Operation::RenameTable),
            self.add_foreign_key.as_ref().map(Operation::AddForeignKey),
            self.add_not_null.as_ref().map(Operation::AddNotNull),
            self.split_table.as_ref().map(Operation::SplitTable),
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
