//! The `#[zero_downtime]` attribute of zdm. Depend on `zdm-runtime`, which re-exports it
//! and documents its syntax; the generated code names that crate.
//!
//! The attribute is a one-line shim over [`expand::zero_downtime`], a plain function over
//! `proc_macro2` token streams: parse (darling) → validate (every error at once, each at its
//! token) → plan model → tokens.

mod args;
mod compose;
mod expand;
mod grammar;
mod known;
mod names;
mod ops;
mod relations;
#[cfg(test)]
mod snapshots;
mod sql;
mod table;
#[cfg(test)]
mod testing;
mod validate;

#[proc_macro_attribute]
pub fn zero_downtime(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::zero_downtime(attr.into(), item.into()).into()
}
