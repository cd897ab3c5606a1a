//! drop_column: creates a demo table in the database at `DATABASE_URL`, then drops a
//! required column softly: from sync on, rows written without it get the declared `down`;
//! contract hides it; reverting contract shows it again with every value; `purge` drops it.
//!
//! ```sh
//! cargo run --example drop_column
//! cargo run --example drop_column -- plan
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Phase, Runner};

mod support;

/// Products stop carrying a legacy code; rows the new version writes get the SKU in its place.
#[zero_downtime(
    id = "example_drop_column_code",
    drop_column(table = "example_products", column = "legacy_code", down = "'L-' || sku")
)]
pub struct DropLegacyCode;

const ROWS: i64 = 5_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [DropLegacyCode]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS example_products;
         CREATE TABLE example_products (id bigint PRIMARY KEY, sku text NOT NULL, legacy_code text NOT NULL);
         INSERT INTO example_products SELECT g, 's' || g, 'L-s' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_products with {ROWS} rows\n");
    for phase in Phase::ALL {
        println!("{}", runner.run(&DropLegacyCode, phase)?);
        if phase == Phase::Sync {
            // The new version no longer names the column.
            runner
                .client()
                .execute("INSERT INTO example_products (id, sku) VALUES (0, 'new')", &[])?;
        }
    }
    runner.revert(&DropLegacyCode, Phase::Contract)?;
    let code: String = runner
        .client()
        .query_one("SELECT legacy_code FROM example_products WHERE id = 0", &[])?
        .get(0);
    if code != "L-new" {
        return Err(format!("the new version's row got {code:?}, not \"L-new\"").into());
    }
    println!("reverting contract shows the column again; the new version's row got {code:?}");
    runner.run(&DropLegacyCode, Phase::Contract)?;
    runner.purge(&DropLegacyCode)?;
    println!("done: purge dropped the hidden column for good");
    Ok(())
}
