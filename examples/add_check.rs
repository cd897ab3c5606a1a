//! `add_check`: creates a demo table in the database at `DATABASE_URL` where some prices are
//! negative, then runs every phase of the change that forbids negative prices, the negative
//! ones becoming their absolute value, printing what each phase did.
//!
//! ```sh
//! cargo run --example add_check
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Prices are never negative; a negative one becomes its absolute value.
#[zero_downtime(
    id = "example_check_price",
    add_check(
        table = "check_demo_items",
        name = "check_demo_items_price_not_negative",
        check = "price >= 0",
        fix_column = "price",
        fix = "abs(price)"
    )
)]
pub struct PriceNotNegative;

const ROWS: i64 = 50_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [PriceNotNegative]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS check_demo_items;
         CREATE TABLE check_demo_items (id bigint PRIMARY KEY, price integer NOT NULL);
         INSERT INTO check_demo_items SELECT g, CASE WHEN g % 10 = 0 THEN -g ELSE g END::integer
             FROM generate_series(1, {ROWS}) g;"
    ))?;
    // A rerun starts without the record of an earlier backfill.
    client.batch_execute("DROP TABLE IF EXISTS zdm.example_check_price_fixed")?;
    println!("created check_demo_items with {ROWS} rows, one in ten with a negative price\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, PriceNotNegative.plan().phase(phase).summary);
        let report = runner.run(&PriceNotNegative, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // The old application version still writes negative prices.
            runner
                .client()
                .execute("INSERT INTO check_demo_items VALUES ($1, -5)", &[&(ROWS + 1)])?;
            println!("the old version inserted a negative price; the sync trigger made it 5\n");
        }
    }

    let client = runner.client();
    let negative: i64 = client
        .query_one("SELECT count(*) FROM check_demo_items WHERE price < 0", &[])?
        .get(0);
    let validated: bool = client
        .query_one(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'check_demo_items_price_not_negative'",
            &[],
        )?
        .get(0);
    if negative != 0 || !validated {
        return Err(format!(
            "expected no negative price and a valid check, found {negative} and {validated}"
        )
        .into());
    }
    println!("done: the check is validated and no price is negative");
    Ok(())
}
