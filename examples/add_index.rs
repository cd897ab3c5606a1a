//! add_index: creates a demo table with rows in the database at `DATABASE_URL`, then builds
//! a unique partial expression index concurrently, phase by phase. The first attempt is
//! refused because two live rows share an email; once one is soft-deleted the build runs.
//!
//! ```sh
//! cargo run --example add_index
//! ```

use std::process::ExitCode;

use postgres::error::SqlState;

use zdm_runtime::{zero_downtime, Error, Migration, Phase, Runner};

mod support;

/// One live account per email, whatever its case.
#[zero_downtime(
    id = "example_add_index_live_email",
    add_index(
        table = "example_accounts",
        expression = "lower(email)",
        unique,
        where = "deleted_at IS NULL"
    )
)]
pub struct UniqueLiveEmail;

const ROWS: i64 = 20_000;
const INDEX: &str = "example_accounts_lower_email_idx";

zdm_runtime::migrations!(pub static MIGRATIONS = [UniqueLiveEmail]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS example_accounts;
         CREATE TABLE example_accounts (id bigint PRIMARY KEY, email text NOT NULL, deleted_at timestamptz);
         INSERT INTO example_accounts SELECT g, 'Account' || g || '@Example.COM', NULL FROM generate_series(1, {ROWS}) g;
         -- The same person signed up twice.
         INSERT INTO example_accounts VALUES ({ROWS} + 1, 'ACCOUNT7@example.com', NULL);"
    ))?;
    println!("created example_accounts with {} rows\n", ROWS + 1);

    let expand = UniqueLiveEmail.plan().phase(Phase::Expand);
    println!("expand: {}", expand.summary);
    for step in expand.forward.iter() {
        println!("  - {} [{}]", step.description, step.lock);
    }
    match runner.run(&UniqueLiveEmail, Phase::Expand) {
        Err(error @ Error::Precondition { .. }) => println!("\nrefused, as it should be:\n{error}\n"),
        Err(error) => return Err(error.into()),
        Ok(_) => return Err("the duplicate email was not noticed".into()),
    }
    runner.client().execute(
        "UPDATE example_accounts SET deleted_at = now() WHERE id = $1",
        &[&(ROWS + 1)],
    )?;
    println!("soft-deleted the second account; running expand again\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, UniqueLiveEmail.plan().phase(phase).summary);
        let report = runner.run(&UniqueLiveEmail, phase)?;
        println!("{report}");
    }

    let client = runner.client();
    let valid: Option<bool> = client
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
            &[&INDEX],
        )?
        .map(|row| row.get(0));
    if valid != Some(true) {
        return Err(format!("{INDEX} is not a valid index: {valid:?}").into());
    }
    let duplicate = client.execute(
        "INSERT INTO example_accounts VALUES ($1, 'account8@EXAMPLE.com', NULL)",
        &[&(ROWS + 2)],
    );
    match duplicate {
        Ok(_) => return Err("a second live account with the same email was accepted".into()),
        Err(error) => match error.as_db_error() {
            Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION && db.constraint() == Some(INDEX) => {}
            _ => return Err(format!("the duplicate failed for another reason than {INDEX}: {error}").into()),
        },
    }
    println!("done: {INDEX} is valid and refuses a second live account with the same email");
    Ok(())
}
