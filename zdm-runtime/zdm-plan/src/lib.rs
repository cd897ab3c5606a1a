//! The plan of one zdm schema change and the SQL rules it is written with, defined once for
//! the `#[zero_downtime]` macro, which builds a plan and emits it as a `static`, and for the
//! runtime, which executes it. Neither crate defines a plan type, a quoting rule or a
//! generated name of its own, so what the macro checks and snapshots is what the runtime
//! runs and checksums.
//!
//! It lives under `zdm-runtime/` because its types are the runtime's public vocabulary
//! (`Plan`, `Step`, `Phase`, which applications inspect); the macro is only their emitter.

mod hash;
pub mod lexer;
pub mod names;
mod plan;
pub mod sql;
#[cfg(feature = "tokens")]
mod tokens;

use std::borrow::Cow;

pub use hash::Fnv1a;
pub use plan::*;
#[cfg(feature = "tokens")]
pub use tokens::{private_path, private_path_at};

/// Text in a plan: borrowed from the `static` the macro emits, owned while the macro builds
/// the plan.
pub type Text = Cow<'static, str>;

/// A list in a plan, borrowed or owned like [`Text`].
pub type List<T> = Cow<'static, [T]>;

/// A list of texts from anything that yields strings, for the macro's builders.
pub fn texts<I>(items: I) -> List<Text>
where
    I: IntoIterator,
    I::Item: Into<Text>,
{
    Cow::Owned(items.into_iter().map(Into::into).collect())
}
