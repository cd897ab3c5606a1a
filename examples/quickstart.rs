//! The quickstart: creates a demo table with rows in the database at `DATABASE_URL`, then
//! runs every phase of an add-column change in order, printing what each phase did.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Options, Phase, Runner};

/// Customers get a lower-cased copy of their email, indexed and required.
#[zero_downtime(
    id = "quickstart_email_lower",
    add_column(
        table = "quickstart_customers",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
pub struct AddEmailLower;

const ROWS: i64 = 50_000;

fn main() -> ExitCode {
    match quickstart() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn quickstart() -> Result<(), Box<dyn std::error::Error>> {
    let url = zdm_runtime::database_url();
    let mut runner = Runner::connect(&url, Options::default())?;
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS quickstart_customers;
         CREATE TABLE quickstart_customers (id bigint PRIMARY KEY, email text NOT NULL);
         INSERT INTO quickstart_customers
             SELECT g, 'Customer' || g || '@Example.COM' FROM generate_series(1, {ROWS}) g;"
    ))?;
    // A rerun starts the demo migration afresh.
    client.execute("DELETE FROM zdm.migrations WHERE id = $1", &[&AddEmailLower.id()])?;
    println!("created quickstart_customers with {ROWS} rows\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, AddEmailLower.plan().phase(phase).summary);
        let report = runner.run(&AddEmailLower, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // The old application version, which knows nothing of email_lower, still writes.
            runner.client().execute(
                "INSERT INTO quickstart_customers (id, email) VALUES ($1, 'Late@Example.COM')",
                &[&(ROWS + 1)],
            )?;
            println!("the old version inserted a row; the sync trigger filled its email_lower\n");
        }
    }

    let wrong: i64 = runner
        .client()
        .query_one(
            "SELECT count(*) FROM quickstart_customers WHERE email_lower IS DISTINCT FROM lower(email)",
            &[],
        )?
        .get(0);
    if wrong != 0 {
        return Err(format!("{wrong} rows have a wrong email_lower").into());
    }
    let (not_null, indexed): (bool, bool) = {
        let row = runner.client().query_one(
            "SELECT a.attnotnull, EXISTS (SELECT FROM pg_index i WHERE i.indrelid = a.attrelid \
                     AND i.indnatts = 1 AND i.indkey[0] = a.attnum AND i.indisvalid) \
             FROM pg_attribute a \
             WHERE a.attrelid = 'quickstart_customers'::regclass AND a.attname = 'email_lower'",
            &[],
        )?;
        (row.get(0), row.get(1))
    };
    if !not_null || !indexed {
        return Err(
            format!("email_lower: NOT NULL = {not_null}, a valid index of its own = {indexed}").into(),
        );
    }
    println!("done: every row of quickstart_customers has email_lower, now NOT NULL and indexed");
    Ok(())
}
