//! Several operations in one declaration: creates demo tables in the database at
//! `DATABASE_URL`, then runs every phase of the change that gives each order a customer (the
//! column, backfilled and made NOT NULL, its foreign key and an index of a customer's orders
//! by date), printing what each
//! phase did; then reverts every phase and checks the table is what it was.
//!
//! ```sh
//! cargo run --example multi_operation
//! cargo run --example multi_operation -- plan
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Every order belongs to a customer.
#[zero_downtime(
    id = "example_multi_order_customer",
    add_column(
        table = "multi_demo_orders",
        column = "customer_id",
        ty = "bigint",
        backfill = "(id % 100) + 1",
        not_null
    ),
    add_foreign_key(
        table = "multi_demo_orders",
        column = "customer_id",
        references = "multi_demo_customers",
        existing_column
    ),
    add_index(table = "multi_demo_orders", columns = ["customer_id", "placed_at"])
)]
pub struct OrderCustomer;

const ROWS: i64 = 50_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [OrderCustomer]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS multi_demo_orders, multi_demo_customers;
         CREATE TABLE multi_demo_customers (id bigint PRIMARY KEY, name text NOT NULL);
         INSERT INTO multi_demo_customers SELECT g, 'customer ' || g FROM generate_series(1, 100) g;
         CREATE TABLE multi_demo_orders (id bigint PRIMARY KEY, placed_at timestamptz NOT NULL);
         INSERT INTO multi_demo_orders SELECT g, '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, {ROWS}) g;"
    ))?;
    // A rerun starts without the record of an earlier backfill.
    client.batch_execute("DROP TABLE IF EXISTS zdm.example_multi_order_customer_filled")?;
    println!("created multi_demo_orders with {ROWS} rows and 100 customers\n");
    let before = table(runner)?;

    println!("{} runs {}\n", OrderCustomer.id(), OrderCustomer.plan().operation);
    for phase in Phase::ALL {
        println!("{}: {}", phase, OrderCustomer.plan().phase(phase).summary);
        let report = runner.run(&OrderCustomer, phase)?;
        println!("{report}");
    }
    let client = runner.client();
    let orphans: i64 = client
        .query_one(
            "SELECT count(*) FROM multi_demo_orders o WHERE NOT EXISTS \
             (SELECT FROM multi_demo_customers c WHERE c.id = o.customer_id)",
            &[],
        )?
        .get(0);
    let validated: bool = client
        .query_one(
            "SELECT bool_and(convalidated) FROM pg_constraint \
             WHERE conrelid = 'multi_demo_orders'::regclass AND contype = 'f'",
            &[],
        )?
        .get::<_, Option<bool>>(0)
        .unwrap_or(false);
    let indexed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'multi_demo_orders'::regclass AND indisvalid \
             AND indexrelid::regclass::text IN ('multi_demo_orders_customer_id_idx', \
             'multi_demo_orders_customer_id_placed_at_idx')",
            &[],
        )?
        .get(0);
    if orphans != 0 || !validated || indexed != 2 {
        return Err(format!(
            "expected every order with a customer, a validated foreign key and two valid indexes; found \
             {orphans} orphans, validated = {validated}, {indexed} valid indexes"
        )
        .into());
    }
    println!("done: every order has a customer, indexed and referenced\n");

    for phase in Phase::ALL.into_iter().rev() {
        runner.revert(&OrderCustomer, phase)?;
        println!("reverted {phase}");
    }
    if table(runner)? != before {
        return Err("the reverted table differs from the one the change started on".into());
    }
    println!("reverted every phase: multi_demo_orders is what it was");
    Ok(())
}

/// The columns, indexes and constraints of the orders table, and its rows.
fn table(runner: &mut Runner) -> Result<Vec<String>, postgres::Error> {
    let rows = runner.client().query(
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull FROM pg_attribute \
         WHERE attrelid = 'multi_demo_orders'::regclass AND attnum > 0 AND NOT attisdropped
         UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'multi_demo_orders'::regclass
         UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'multi_demo_orders'::regclass
         UNION ALL SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM multi_demo_orders o
         ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
