//! `add_column`: a column computed from others, and one filled by a volatile default.
//!
//! With no arguments, a demo: creates `add_column_demo` with rows in the database at
//! `DATABASE_URL`, runs every phase of both migrations in order, checks the result and exits
//! non-zero if anything is wrong. With arguments, it is the zdm CLI over these migrations:
//!
//! ```sh
//! cargo run --example add_column               # the demo
//! cargo run --example add_column -- plan       # the SQL of every phase, no database needed
//! cargo run --example add_column -- status
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Phase, Runner};

mod support;

/// Accounts get a lower-cased copy of their email, indexed and required.
#[zero_downtime(
    id = "2026_11_27_01_email_lower",
    add_column(
        table = "add_column_demo",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
pub struct AddEmailLower;

/// Accounts get a random API token, for existing rows too.
#[zero_downtime(
    id = "2026_11_27_02_api_token",
    add_column(
        table = "add_column_demo",
        column = "api_token",
        ty = "uuid",
        default = "gen_random_uuid()",
        not_null
    )
)]
pub struct AddApiToken;

zdm_runtime::migrations!(pub static MIGRATIONS = [AddEmailLower, AddApiToken]);

const ROWS: i64 = 20_000;

fn main() -> ExitCode {
    support::main(MIGRATIONS, demo)
}

fn demo(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS add_column_demo;
         CREATE TABLE add_column_demo (id bigint PRIMARY KEY, email text NOT NULL);
         INSERT INTO add_column_demo SELECT g, 'Account' || g || '@Example.COM' FROM generate_series(1, {ROWS}) g;"
    ))?;
    for migration in MIGRATIONS {
        for phase in Phase::ALL {
            let report = runner.run(*migration, phase)?;
            println!("{}: {report}", migration.id());
        }
    }
    let row = runner.client().query_one(
        "SELECT count(*) FILTER (WHERE email_lower IS DISTINCT FROM lower(email)),
                count(*) - count(DISTINCT api_token)
         FROM add_column_demo",
        &[],
    )?;
    let (wrong_email, duplicate_tokens): (i64, i64) = (row.get(0), row.get(1));
    if wrong_email != 0 || duplicate_tokens != 0 {
        return Err(format!(
            "{wrong_email} wrong email_lower values, {duplicate_tokens} missing or repeated tokens"
        )
        .into());
    }
    println!("checked: {ROWS} rows, each with email_lower and a token of its own");
    Ok(())
}
