//! rename_table: creates a demo table with rows in the database at `DATABASE_URL`, then
//! renames it phase by phase. Between expand and contract the old version keeps writing
//! through a view under the old name while the new version writes to the new name.
//!
//! ```sh
//! cargo run --example rename_table
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Customers become clients.
#[zero_downtime(
    id = "example_rename_table_clients",
    rename_table(from = "example_customers", to = "example_clients")
)]
pub struct RenameCustomers;

const ROWS: i64 = 10_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [RenameCustomers]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS example_clients CASCADE;
         DROP TABLE IF EXISTS example_customers CASCADE;
         CREATE TABLE example_customers (
             id bigserial PRIMARY KEY,
             name text NOT NULL,
             status text NOT NULL DEFAULT 'new'
         );
         INSERT INTO example_customers (name) SELECT 'customer ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_customers with {ROWS} rows\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, RenameCustomers.plan().phase(phase).summary);
        let report = runner.run(&RenameCustomers, phase)?;
        println!("{report}");
        if phase == Phase::Expand {
            let client = runner.client();
            // The old version still uses the old name: the view takes its writes, filling
            // the id and status from the table's defaults.
            let row = client.query_one(
                "INSERT INTO example_customers (name) VALUES ('old version') RETURNING id, status",
                &[],
            )?;
            let (id, status): (i64, String) = (row.get(0), row.get(1));
            client.execute(
                "UPDATE example_customers SET name = 'old version, edited' WHERE id = $1",
                &[&id],
            )?;
            // The new version uses the new name; its rows show under the old one too.
            client.execute("INSERT INTO example_clients (name) VALUES ('new version')", &[])?;
            let through_view: i64 = client
                .query_one("SELECT count(*) FROM example_customers", &[])?
                .get(0);
            let through_table: i64 = client
                .query_one("SELECT count(*) FROM example_clients", &[])?
                .get(0);
            if through_view != through_table {
                return Err(
                    format!("{through_view} rows through the view, {through_table} in the table").into(),
                );
            }
            println!(
                "the old version inserted row {id} (status {status}) through the view and edited it; \
                 the new version inserted through the new name; both names show {through_table} rows\n"
            );
        }
    }

    let client = runner.client();
    let old_name: Option<String> = client
        .query_one("SELECT to_regclass('example_customers')::text", &[])?
        .get(0);
    if old_name.is_some() {
        return Err("the old name still exists after contract".into());
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM example_clients", &[])?
        .get(0);
    let edited: i64 = client
        .query_one(
            "SELECT count(*) FROM example_clients WHERE name = 'old version, edited'",
            &[],
        )?
        .get(0);
    if rows != ROWS + 2 || edited != 1 {
        return Err(format!(
            "expected {} rows with the old version's edit, found {rows} ({edited} edited)",
            ROWS + 2
        )
        .into());
    }
    println!(
        "done: example_clients holds all {rows} rows, written through either name; the old name is gone"
    );
    Ok(())
}
