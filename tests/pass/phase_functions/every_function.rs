//! Every phase function of a declaration, called as an application would; beside a user's
//! own inherent functions and a trait whose method shares a phase's name.
use zdm_runtime::{zero_downtime, PhaseReport, Result, Runner};

/// Customers get a lower-cased copy of their email.
#[zero_downtime(
    id = "m1",
    add_column(table = "customers", column = "email_lower", ty = "text",
               backfill = "lower(email)", not_null, index)
)]
pub struct AddEmailLower;

// A private declaration whose phases have nothing to do but record themselves.
#[zero_downtime(id = "m2", add_column(table = "customers", column = "nickname", ty = "text"))]
struct AddNickname;

impl AddEmailLower {
    /// The user's own inherent functions live beside the generated ones.
    pub fn column() -> &'static str {
        "email_lower"
    }
}

trait Stage {
    fn expand(&self) -> &'static str;
}

impl Stage for AddEmailLower {
    fn expand(&self) -> &'static str {
        "the trait's method, called on a value"
    }
}

fn deploy(runner: &mut Runner) -> Result<Vec<PhaseReport>> {
    Ok(vec![
        AddEmailLower::expand(runner)?,
        AddEmailLower::sync(runner)?,
        AddEmailLower::backfill(runner)?,
        AddEmailLower::contract(runner)?,
        AddNickname::expand(runner)?,
        AddNickname::sync(runner)?,
        AddNickname::backfill(runner)?,
        AddNickname::contract(runner)?,
    ])
}

fn undo(runner: &mut Runner) -> Result<Vec<PhaseReport>> {
    Ok(vec![
        AddEmailLower::revert_contract(runner)?,
        AddEmailLower::revert_backfill(runner)?,
        AddEmailLower::revert_sync(runner)?,
        AddEmailLower::revert_expand(runner)?,
        AddNickname::revert_contract(runner)?,
        AddNickname::revert_backfill(runner)?,
        AddNickname::revert_sync(runner)?,
        AddNickname::revert_expand(runner)?,
    ])
}

// The README's example, as written there.
fn readme(runner: &mut Runner) -> std::result::Result<(), zdm_runtime::Error> {
    AddEmailLower::expand(runner)?; // deploy the new version after sync
    AddEmailLower::sync(runner)?;
    AddEmailLower::backfill(runner)?;
    AddEmailLower::contract(runner)?; // once no old version runs
    AddEmailLower::revert_contract(runner)?; // then revert_backfill, revert_sync, revert_expand
    Ok(())
}

fn main() {
    let _: fn(&mut Runner) -> std::result::Result<(), zdm_runtime::Error> = readme;
    // Typed as the runner's calls, without a database to run them against.
    let calls: [fn(&mut Runner) -> Result<Vec<PhaseReport>>; 2] = [deploy, undo];
    assert_eq!(calls.len(), 2);
    assert_eq!(AddEmailLower::column(), "email_lower");
    assert_eq!(Stage::expand(&AddEmailLower), "the trait's method, called on a value");
}
