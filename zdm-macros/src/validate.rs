//! Checks shared by every operation. Each pushes a spanned error naming the key as the
//! user wrote it, so all problems of a declaration are reported in one build.

use darling::util::SpannedValue;

use crate::grammar::Place;
use crate::sql;

/// Collects every error of one declaration.
pub type Errors = darling::error::Accumulator;

pub fn push(errors: &mut Errors, span: proc_macro2::Span, message: impl std::fmt::Display) {
    errors.push(syn::Error::new(span, message).into());
}

/// A table, column or index name.
pub fn identifier(errors: &mut Errors, key: &str, value: &SpannedValue<String>) {
    if let Some(problem) = sql::identifier_problem(value) {
        push(errors, value.span(), format_args!("`{key}` {problem}"));
    }
}

/// A table name. A `.` in it would be part of the name, never a schema: PostgreSQL reads
/// `"app.users"` as one identifier, so `app.users` is refused rather than taken by accident.
pub fn table(errors: &mut Errors, key: &str, value: &SpannedValue<String>) {
    identifier(errors, key, value);
    if let Some((schema, table)) = value.split_once('.') {
        push(
            errors,
            value.span(),
            format_args!(
                "`{key}` contains a `.`, which PostgreSQL would read as part of one name \"{}\", not as the table \
                 `{table}` of the schema `{schema}`; name the schema with its own key: `schema = \"{schema}\", \
                 {key} = \"{table}\"`",
                value.as_str()
            ),
        );
    }
}

/// A declared `schema` (or `references_schema`): one name.
pub fn schema(errors: &mut Errors, key: &str, value: &Option<SpannedValue<String>>) {
    if let Some(value) = value {
        identifier(errors, key, value);
    }
}

/// A SQL value expression embedded in generated statements.
pub fn expression(errors: &mut Errors, key: &str, value: &SpannedValue<String>) {
    fragment(errors, key, value, Place::Value);
}

/// A SQL condition embedded in generated statements (`where`).
pub fn condition(errors: &mut Errors, key: &str, value: &SpannedValue<String>) {
    fragment(errors, key, value, Place::Condition);
}

fn fragment(errors: &mut Errors, key: &str, value: &SpannedValue<String>, place: Place) {
    if let Some(problem) = sql::expression_problem(value, place) {
        push(errors, value.span(), format_args!("`{key}` {problem}"));
    }
}

/// A column type.
pub fn type_name(errors: &mut Errors, key: &str, value: &SpannedValue<String>) {
    if let Some(problem) = sql::type_problem(value) {
        push(errors, value.span(), format_args!("`{key}` {problem}"));
    }
}
