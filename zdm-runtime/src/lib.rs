//! zdm: zero-downtime PostgreSQL schema changes, declared in Rust and checked by the
//! compiler.
//!
//! A `#[zero_downtime(...)]` attribute on a struct declares one schema change and generates
//! its [`Plan`]: the expand, sync, backfill and contract phases and the reversal of each,
//! as data. A [`Runner`] executes the phases against a live database in order, one short
//! step at a time, under a lock timeout with retries, recording progress in the `zdm`
//! schema so that an interrupted phase resumes where it stopped.
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

mod backfill;
mod carry;
mod error;
mod plan;
mod runner;
mod sql;
mod state;

pub use error::{Blocker, Error, Result};
pub use plan::{
    Action, Backfill, Carry, CarryTarget, CarryWork, Check, Expectation, Lock, Migration, Phase, PhasePlan,
    Plan, Step,
};
pub use runner::{connect, database_url, BatchSize, Options, PhaseReport, Runner, StepReport};
pub use sql::{quote_ident, quote_literal};
pub use state::{Direction, MigrationState};
pub use zdm_macros::zero_downtime;

/// What generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::plan::{
        Action, Backfill, Carry, CarryTarget, CarryWork, Check, Expectation, Lock, Migration, PhasePlan,
        Plan, Step,
    };
    pub use core::option::Option::{None, Some};
}
