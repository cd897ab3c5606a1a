//! Renames a column while the old and the new application version both write: creates a
//! demo table with an index, a CHECK, a UNIQUE constraint, a default and NOT NULL on the
//! column, runs every phase in order (printing what each did), writes through the old name
//! and the new one in between, and checks that the renamed column carries everything.
//!
//! ```sh
//! cargo run --example rename_column
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Customers' `name` becomes `full_name`.
#[zero_downtime(
    id = "example_rename_customer_name",
    rename_column(table = "example_customers", from = "name", to = "full_name")
)]
pub struct RenameName;

const ROWS: i64 = 20_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [RenameName]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS example_customers;
         CREATE TABLE example_customers (
             id bigint PRIMARY KEY,
             email text NOT NULL,
             name text NOT NULL DEFAULT 'anonymous' CHECK (name <> ''),
             CONSTRAINT example_customers_email_name_key UNIQUE (email, name)
         );
         CREATE INDEX example_customers_name_idx ON example_customers (name);
         INSERT INTO example_customers
             SELECT g, 'customer' || g || '@example.com', 'Customer ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_customers with {ROWS} rows\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, RenameName.plan().phase(phase).summary);
        let report = runner.run(&RenameName, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // Both versions run now: the old one writes `name`, the new one `full_name`.
            runner.client().batch_execute(
                "INSERT INTO example_customers (id, email, name) VALUES (100001, 'old@example.com', 'Old Version');
                 INSERT INTO example_customers (id, email, full_name) VALUES (100002, 'new@example.com', 'New Version');
                 UPDATE example_customers SET name = 'Renamed By Old' WHERE id = 1;",
            )?;
            println!("the old version inserted and updated through `name`, the new one inserted through `full_name`\n");
        }
    }

    let client = runner.client();
    let checks = [
        (
            "rows whose full_name is wrong",
            "SELECT count(*) FROM example_customers WHERE full_name IS DISTINCT FROM \
             CASE id WHEN 1 THEN 'Renamed By Old' WHEN 100001 THEN 'Old Version' WHEN 100002 THEN 'New Version' \
             ELSE 'Customer ' || id END",
        ),
        (
            "columns still named name",
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'example_customers'::regclass \
             AND attname = 'name' AND NOT attisdropped",
        ),
        (
            "carried objects missing",
            "SELECT 4 - count(*) FROM (
                 SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index
                 WHERE indrelid = 'example_customers'::regclass
                   AND indexrelid::regclass::text IN ('example_customers_name_idx', 'example_customers_email_name_key')
                 UNION ALL
                 SELECT pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid = 'example_customers'::regclass
                   AND conname IN ('example_customers_name_check', 'example_customers_email_name_key')
             ) carried WHERE definition LIKE '%full_name%'",
        ),
        (
            "NOT NULL or default lost",
            "SELECT count(*) FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = 'example_customers'::regclass AND a.attname = 'full_name' \
               AND NOT (a.attnotnull AND pg_get_expr(d.adbin, d.adrelid) = '''anonymous''::text')",
        ),
    ];
    for (what, sql) in checks {
        let count: i64 = client.query_one(sql, &[])?.get(0);
        if count != 0 {
            return Err(format!("{what}: {count}").into());
        }
    }
    println!(
        "done: example_customers.name is now full_name, NOT NULL with its default, its index, CHECK and UNIQUE \
         constraint under their original names, and no write of either version was lost"
    );
    Ok(())
}
