//! create_table: creates a demo table in the database at `DATABASE_URL`, then a new table
//! referencing it at expand; reverting expand drops it while it is empty and refuses once
//! it holds rows, unless data loss is allowed.
//!
//! ```sh
//! cargo run --example create_table
//! cargo run --example create_table -- plan
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Phase, Runner};

mod support;

/// Orders get a table of notes.
#[zero_downtime(
    id = "example_create_table_notes",
    create_table(
        table = "example_order_notes",
        column(name = "id", ty = "bigint"),
        column(name = "order_id", ty = "bigint", not_null, references = "example_orders"),
        column(name = "body", ty = "text", not_null, check = "body <> ''"),
        column(name = "written_at", ty = "timestamptz", default = "now()", not_null),
        primary_key = "id"
    )
)]
pub struct CreateOrderNotes;

zdm_runtime::migrations!(pub static MIGRATIONS = [CreateOrderNotes]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(
        "DROP TABLE IF EXISTS example_order_notes;
         DROP TABLE IF EXISTS example_orders;
         CREATE TABLE example_orders (id bigint PRIMARY KEY);
         INSERT INTO example_orders SELECT generate_series(1, 100);",
    )?;
    for phase in Phase::ALL {
        println!("{}", runner.run(&CreateOrderNotes, phase)?);
    }
    runner.client().execute(
        "INSERT INTO example_order_notes (id, order_id, body) VALUES (1, 7, 'call first')",
        &[],
    )?;
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync] {
        runner.revert(&CreateOrderNotes, phase)?;
    }
    match runner.revert(&CreateOrderNotes, Phase::Expand) {
        Err(error) => println!("reverting expand refused, as it should: {error}\n"),
        Ok(_) => return Err("reverting expand dropped a table holding a row".into()),
    }
    runner.client().execute("DELETE FROM example_order_notes", &[])?;
    runner.revert(&CreateOrderNotes, Phase::Expand)?;
    let left: Option<String> = runner
        .client()
        .query_one("SELECT to_regclass('example_order_notes')::text", &[])?
        .get(0);
    if left.is_some() {
        return Err("the empty table survived reverting expand".into());
    }
    println!("done: once empty, reverting expand dropped the table");
    Ok(())
}
