//! `add_unique` and `add_primary_key`: creates a demo table without a key in the database at
//! `DATABASE_URL`, then gives it a primary key and a unique email, each index built
//! concurrently and attached as the constraint, printing what each phase did.
//!
//! ```sh
//! cargo run --example add_unique
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Phase, Runner};

mod support;

/// Accounts are keyed by their id.
#[zero_downtime(id = "example_accounts_key", add_primary_key(table = "unique_demo_accounts", columns = ["id"]))]
pub struct KeyAccounts;

/// No two accounts share an email.
#[zero_downtime(
    id = "example_accounts_email",
    add_unique(table = "unique_demo_accounts", columns = ["email"])
)]
pub struct UniqueEmail;

const ROWS: i64 = 50_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [KeyAccounts, UniqueEmail]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS unique_demo_accounts;
         CREATE TABLE unique_demo_accounts (id bigint NOT NULL, email text);
         INSERT INTO unique_demo_accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created unique_demo_accounts with {ROWS} rows and no key\n");
    for migration in MIGRATIONS {
        for phase in Phase::ALL {
            println!(
                "{} {}: {}",
                migration.id(),
                phase,
                migration.plan().phase(phase).summary
            );
            let report = runner.run(*migration, phase)?;
            println!("{report}");
        }
    }
    let constraints: Vec<String> = runner
        .client()
        .query(
            "SELECT contype::text FROM pg_constraint WHERE conrelid = 'unique_demo_accounts'::regclass ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if constraints != ["p", "u"] {
        return Err(format!("expected a primary key and a unique constraint, found {constraints:?}").into());
    }
    println!("done: unique_demo_accounts has its primary key and a unique email");
    Ok(())
}
