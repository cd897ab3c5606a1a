//! raw_sql: creates a demo table in the database at `DATABASE_URL`, then gives it a generated
//! search column with hand-written SQL, which no operation of zdm declares, and the SQL that
//! undoes it. The plan marks it as raw SQL; reverting expand runs the declared `down`.
//!
//! ```sh
//! cargo run --example raw_sql
//! cargo run --example raw_sql -- plan
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Articles get a full-text search column the server keeps up to date, and its index.
#[zero_downtime(
    id = "example_raw_sql_search",
    sql(
        up = "ALTER TABLE example_articles ADD COLUMN search tsvector \
              GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED; \
              CREATE INDEX example_articles_search ON example_articles USING gin (search)",
        down = "DROP INDEX IF EXISTS example_articles_search; \
                ALTER TABLE example_articles DROP COLUMN IF EXISTS search",
        lock = "ACCESS EXCLUSIVE"
    )
)]
pub struct AddSearch;

const ROWS: i64 = 2_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [AddSearch]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS example_articles;
         CREATE TABLE example_articles (id bigint PRIMARY KEY, title text NOT NULL);
         INSERT INTO example_articles SELECT g, 'article number ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_articles with {ROWS} rows\n");
    println!("{}", AddSearch.plan().phase(Phase::Expand).forward[0].description);

    for phase in Phase::ALL {
        let report = runner.run(&AddSearch, phase)?;
        println!("{report}");
    }
    let found: i64 = runner
        .client()
        .query_one(
            "SELECT count(*) FROM example_articles WHERE search @@ to_tsquery('simple', '1999')",
            &[],
        )?
        .get(0);
    if found != 1 {
        return Err(format!("the search column finds {found} articles numbered 1999, not 1").into());
    }
    println!("the search column finds article 1999");

    for phase in Phase::ALL.into_iter().rev() {
        runner.revert(&AddSearch, phase)?;
    }
    let left: i64 = runner
        .client()
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'example_articles'::regclass AND attname = 'search'",
            &[],
        )?
        .get(0);
    if left != 0 {
        return Err("reverting expand left the search column".into());
    }
    println!("done: reverting every phase ran the declared `down`; the column and its index are gone");
    Ok(())
}
