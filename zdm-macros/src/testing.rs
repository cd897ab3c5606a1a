//! Helpers of the unit tests: an operation's arguments parsed from tokens as the attribute
//! would receive them, and the messages its validation reports.

use darling::ast::NestedMeta;
use darling::FromMeta;

use crate::validate::Errors;

/// Parses `tokens` (the inside of `add_column(...)`, …) into an operation's arguments.
pub fn parse<T: FromMeta>(tokens: proc_macro2::TokenStream) -> T {
    T::from_list(&NestedMeta::parse_meta_list(tokens).expect("the test's tokens are a meta list"))
        .expect("the test's tokens parse")
}

/// Every message `validate` reports, in order.
pub fn messages(validate: impl FnOnce(&mut Errors)) -> Vec<String> {
    let mut errors = darling::Error::accumulator();
    validate(&mut errors);
    match errors.finish() {
        Ok(()) => vec![],
        Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
    }
}
