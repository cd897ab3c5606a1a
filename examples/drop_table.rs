//! drop_table: creates a demo table in the database at `DATABASE_URL`, then drops it phase by
//! phase: contract sets it aside in the state schema, reverting contract brings it back with
//! every row, and `purge` drops it for good.
//!
//! ```sh
//! cargo run --example drop_table
//! cargo run --example drop_table -- plan
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Phase, Runner};

mod support;

/// The old audit log is no longer written.
#[zero_downtime(id = "example_drop_table_audit", drop_table(table = "example_old_audit"))]
pub struct DropOldAudit;

const ROWS: i64 = 5_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [DropOldAudit]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn count(runner: &mut Runner, sql: &str) -> Result<i64, postgres::Error> {
    Ok(runner.client().query_one(sql, &[])?.get(0))
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS example_old_audit;
         DROP TABLE IF EXISTS zdm.example_drop_table_audit_dropped, zdm.example_drop_table_audit_dropped_from;
         CREATE TABLE example_old_audit (id bigserial PRIMARY KEY, entry text NOT NULL);
         INSERT INTO example_old_audit (entry) SELECT 'entry ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_old_audit with {ROWS} rows\n");
    for phase in Phase::ALL {
        println!("{}", runner.run(&DropOldAudit, phase)?);
    }
    let set_aside = count(
        runner,
        "SELECT count(*) FROM zdm.example_drop_table_audit_dropped",
    )?;
    println!("contract set the table aside with its {set_aside} rows");

    runner.revert(&DropOldAudit, Phase::Contract)?;
    let back = count(runner, "SELECT count(*) FROM example_old_audit")?;
    if back != ROWS {
        return Err(format!("reverting contract brought back {back} rows, not {ROWS}").into());
    }
    println!("reverting contract put it back with all {back} rows");

    runner.run(&DropOldAudit, Phase::Contract)?;
    runner.purge(&DropOldAudit)?;
    let left = count(
        runner,
        "SELECT count(*) FROM pg_class WHERE relname IN ('example_old_audit', 'example_drop_table_audit_dropped')",
    )?;
    if left != 0 {
        return Err("the table survived purge".into());
    }
    println!("done: purge dropped it for good");
    Ok(())
}
