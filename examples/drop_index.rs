//! `drop_index`: creates a demo table with an index in the database at `DATABASE_URL`,
//! runs every phase of the change that drops the index (`DROP INDEX CONCURRENTLY` at
//! contract), then reverts the contract, which rebuilds the index concurrently from the
//! definition expand recorded, printing what each step did.
//!
//! ```sh
//! cargo run --example drop_index
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Orders are no longer looked up by note.
#[zero_downtime(
    id = "example_drop_index",
    drop_index(table = "drop_index_demo_orders", index = "drop_index_demo_orders_note")
)]
pub struct DropNoteIndex;

const ROWS: i64 = 50_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [DropNoteIndex]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn definition(runner: &mut Runner) -> Result<Option<String>, postgres::Error> {
    Ok(runner
        .client()
        .query_one(
            "SELECT pg_get_indexdef(to_regclass('drop_index_demo_orders_note'))",
            &[],
        )?
        .get(0))
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS drop_index_demo_orders;
         CREATE TABLE drop_index_demo_orders (id bigint PRIMARY KEY, note text);
         CREATE INDEX drop_index_demo_orders_note ON drop_index_demo_orders (lower(note)) WHERE note IS NOT NULL;
         INSERT INTO drop_index_demo_orders SELECT g, 'order ' || g FROM generate_series(1, {ROWS}) g;
         DROP TABLE IF EXISTS zdm.example_drop_index_catalog;"
    ))?;
    let before = definition(runner)?;
    println!(
        "created drop_index_demo_orders with {ROWS} rows and the index\n  {}\n",
        before.clone().unwrap_or_default()
    );

    for phase in Phase::ALL {
        println!("{}: {}", phase, DropNoteIndex.plan().phase(phase).summary);
        println!("{}", runner.run(&DropNoteIndex, phase)?);
    }
    if definition(runner)?.is_some() {
        return Err("the index is still there after contract".into());
    }
    println!("reverting contract: the index is rebuilt concurrently from its recorded definition");
    println!("{}", runner.revert(&DropNoteIndex, Phase::Contract)?);
    let after = definition(runner)?;
    if after != before {
        return Err(format!("rebuilt as {after:?}, expected {before:?}").into());
    }
    println!(
        "done: the index is back as it was\n  {}",
        after.unwrap_or_default()
    );
    Ok(())
}
