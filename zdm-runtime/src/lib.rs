//! zdm: zero-downtime PostgreSQL schema changes, declared in Rust and checked by the
//! compiler.
//!
//! A `#[zero_downtime(...)]` attribute on a struct declares one schema change and generates
//! its [`Plan`]: the expand, sync, backfill and contract phases and the reversal of each,
//! as data. A [`Runner`] executes the phases against a live database in order, one short
//! step at a time, under a lock timeout with retries, recording progress in the state
//! schema (`zdm`, or [`Options::state_schema`]) so that an interrupted phase resumes where it
//! stopped.
//!
//! ```no_run
//! use zdm_runtime::{zero_downtime, Options, Phase, Runner};
//!
//! /// Users get an `email_verified` flag.
//! #[zero_downtime(
//!     id = "2026_11_24_01_email_verified",
//!     add_column(table = "users", column = "email_verified", ty = "boolean",
//!                default = "false", not_null)
//! )]
//! pub struct AddEmailVerified;
//!
//! # fn main() -> Result<(), zdm_runtime::Error> {
//! let mut runner = Runner::connect("postgres://postgres@127.0.0.1:5432/app", Options::default())?;
//! runner.run_to(&AddEmailVerified, Phase::Contract)?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "cli")]
pub mod cli;
mod error;
mod events;
mod executors;
mod expect;
mod ready;
mod report;
mod runner;
mod session;
mod statement;
mod store;
// The crate's own tests make their databases with it too.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod versions;

pub use error::{Blocker, Error, Result};
pub use events::Event;
pub use expect::{index_build_progress, IndexBuildProgress};
pub use ready::check_ready;
pub use report::{PhaseReport, StepReport};
pub use runner::Runner;
pub use session::{connect, database_url, BackfillRoute, BatchSize, Options, ReplicaLag};
pub use store::{Direction, MigrationState};
pub use zdm_macros::zero_downtime;
pub use zdm_plan::sql::{quote_ident, quote_literal};
pub use zdm_plan::{
    Action, Backfill, Carry, CarryTarget, CarryWork, Check, Expectation, List, Lock, Migration, Phase,
    PhasePlan, Plan, Step, Text,
};
pub use zdm_plan::{Split, SplitOperation, SplitTarget};

/// The version schemas of `migrations` (newest first, comma-separated): what the newest
/// application version puts before its own `search_path`, so each table an in-flight
/// migration changes resolves to the view of its newest shape and every other table to
/// itself. A schema no longer there (dropped by a reversal, or by the contract of a later
/// migration of its tables) is skipped by PostgreSQL. Empty when no migration has one.
pub fn version_search_path(migrations: &[&dyn Migration]) -> String {
    let schemas: Vec<String> = migrations
        .iter()
        .rev()
        .filter(|migration| !migration.plan().presents.is_empty())
        .map(|migration| zdm_plan::names::version_schema(migration.id()))
        .collect();
    schemas.join(", ")
}

/// Lists an application's migrations in the order they run, as a
/// `&'static [&'static dyn Migration]` for the CLI and the runner. Two declarations with the
/// same id fail to compile.
///
/// ```
/// # use zdm_runtime::zero_downtime;
/// # #[zero_downtime(id = "m1", add_column(table = "t", column = "a", ty = "text"))]
/// # pub struct AddA;
/// # #[zero_downtime(id = "m2", add_column(table = "t", column = "b", ty = "text"))]
/// # pub struct AddB;
/// zdm_runtime::migrations!(pub static MIGRATIONS = [AddA, AddB]);
/// assert_eq!(MIGRATIONS[1].id(), "m2");
/// ```
#[macro_export]
macro_rules! migrations {
    ($vis:vis static $name:ident = [$($migration:path),* $(,)?]) => {
        $vis static $name: &[&dyn $crate::Migration] = &[$(&$migration),*];
        const _: () = $crate::__private_0_1_0::assert_unique_ids(&[$(<$migration as $crate::__private_0_1_0::Declared>::ID),*]);
        const _: () = $crate::__private_0_1_0::assert_order(&[
            $((<$migration as $crate::__private_0_1_0::Declared>::ID, <$migration as $crate::__private_0_1_0::Declared>::AFTER)),*
        ]);
    };
}

/// What generated code names; not part of the public API. Its name carries the version the
/// macro was built with (the crates are pinned to each other with `=`), so a macro from
/// another release fails with "could not find `__private_…`" rather than deep inside a plan.
#[doc(hidden)]
pub mod __private_0_1_0 {
    pub use core::option::Option::{None, Some};
    pub use std::borrow::Cow;
    pub use zdm_plan::{
        Action, Backfill, Carry, CarryTarget, CarryWork, Check, Expectation, Lock, Migration, Phase,
        PhasePlan, Plan, Step,
    };
    pub use zdm_plan::{Presented, PresentedColumn};
    pub use zdm_plan::{Split, SplitOperation, SplitTarget};
    // What the phase functions on a declaration call.
    pub use crate::{PhaseReport, Result, Runner};

    /// What the attribute records of a declaration for compile-time checks across
    /// declarations.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a `#[zero_downtime]` declaration",
        label = "not declared with `#[zero_downtime(...)]`",
        note = "`after(...)` and `migrations!` take the structs that carry `#[zero_downtime(...)]`"
    )]
    pub trait Declared {
        /// The migration's id.
        const ID: &'static str;
        /// The tables (`"t"`) and columns (`"t"."c"`) the declaration creates.
        const PROVIDES: &'static [&'static str];
        /// The ids of the declarations named in its `after(...)`.
        const AFTER: &'static [&'static str];
    }

    /// Fails the build when a declaration named in `after(...)` creates nothing the
    /// declaration uses.
    pub const fn assert_after_provides(provided: &[&str], used: &[&str]) {
        let mut i = 0;
        while i < provided.len() {
            let mut j = 0;
            while j < used.len() {
                if same(provided[i].as_bytes(), used[j].as_bytes()) {
                    return;
                }
                j += 1;
            }
            i += 1;
        }
        panic!(
            "the declaration named in `after(...)` creates none of the tables and columns this one uses; \
             name the declaration that creates them"
        );
    }

    /// Fails the build when `migrations!` lists a declaration before one it names in
    /// `after(...)`.
    pub const fn assert_order(entries: &[(&str, &[&str])]) {
        let mut i = 0;
        while i < entries.len() {
            let dependencies = entries[i].1;
            let mut d = 0;
            while d < dependencies.len() {
                let mut j = i + 1;
                while j < entries.len() {
                    if same(entries[j].0.as_bytes(), dependencies[d].as_bytes()) {
                        panic!(
                            "`migrations!` lists a declaration before one it names in `after(...)`; \
                             list the one it runs after first"
                        );
                    }
                    j += 1;
                }
                d += 1;
            }
            i += 1;
        }
    }

    /// Fails the build when two listed migrations share an id.
    pub const fn assert_unique_ids(ids: &[&str]) {
        let mut i = 0;
        while i < ids.len() {
            let mut j = i + 1;
            while j < ids.len() {
                if same(ids[i].as_bytes(), ids[j].as_bytes()) {
                    panic!("two migrations listed in `migrations!` have the same id; give each its own id");
                }
                j += 1;
            }
            i += 1;
        }
    }

    const fn same(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_private_module_carries_this_version() {
        // The macro names `__private_<version>` from the plan crate's version; renaming the
        // module is part of every release.
        assert_eq!(
            format!("__private_{}", env!("CARGO_PKG_VERSION").replace('.', "_")),
            "__private_0_1_0"
        );
    }
}
