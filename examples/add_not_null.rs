//! `add_not_null`: creates a demo table in the database at `DATABASE_URL` where some users
//! have no email, then runs every phase of the change that makes `email` NOT NULL, the
//! missing ones becoming a placeholder, printing what each phase did.
//!
//! ```sh
//! cargo run --example add_not_null
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Every user has an email; the ones without get a placeholder.
#[zero_downtime(
    id = "example_not_null_email",
    add_not_null(
        table = "not_null_demo_users",
        column = "email",
        backfill = "'unknown@example.com'"
    )
)]
pub struct RequireEmail;

const ROWS: i64 = 50_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [RequireEmail]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS not_null_demo_users;
         CREATE TABLE not_null_demo_users (id bigint PRIMARY KEY, email text);
         INSERT INTO not_null_demo_users
             SELECT g, CASE WHEN g % 10 <> 0 THEN 'user' || g || '@example.com' END FROM generate_series(1, {ROWS}) g;"
    ))?;
    // A rerun starts without the record of an earlier backfill.
    client.batch_execute("DROP TABLE IF EXISTS zdm.example_not_null_email_filled")?;
    println!("created not_null_demo_users with {ROWS} rows, one in ten without an email\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, RequireEmail.plan().phase(phase).summary);
        let report = runner.run(&RequireEmail, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // The old application version still writes users without an email.
            runner
                .client()
                .execute("INSERT INTO not_null_demo_users (id) VALUES ($1)", &[&(ROWS + 1)])?;
            println!(
                "the old version inserted a user without email; the sync trigger gave it the placeholder\n"
            );
        }
    }

    let client = runner.client();
    let placeholders: i64 = client
        .query_one(
            "SELECT count(*) FROM not_null_demo_users WHERE email = 'unknown@example.com'",
            &[],
        )?
        .get(0);
    let expected = ROWS / 10 + 1;
    if placeholders != expected {
        return Err(format!("{placeholders} users have the placeholder, expected {expected}").into());
    }
    let not_null: bool = client
        .query_one(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'not_null_demo_users'::regclass AND attname = 'email'",
            &[],
        )?
        .get(0);
    let checks: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'not_null_demo_users'::regclass AND contype = 'c'",
            &[],
        )?
        .get(0);
    let triggers: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'not_null_demo_users'::regclass AND NOT tgisinternal",
            &[],
        )?
        .get(0);
    if !not_null || checks != 0 || triggers != 0 {
        return Err(format!(
            "expected email NOT NULL and no check or trigger left, found NOT NULL = {not_null}, \
             {checks} checks, {triggers} triggers"
        )
        .into());
    }
    println!(
        "done: email is NOT NULL; {placeholders} users got the placeholder, the check and trigger are gone"
    );
    Ok(())
}
