//! `add_foreign_key`: creates two demo tables in the database at `DATABASE_URL`, orders that
//! name their customer by email, then runs every phase of the change that gives each order a
//! `customer_id` foreign key, printing what each phase did.
//!
//! ```sh
//! cargo run --example add_foreign_key
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Orders point at their customer by id, required, and go when the customer goes.
#[zero_downtime(
    id = "example_fk_customer_id",
    add_foreign_key(
        table = "fk_demo_orders",
        column = "customer_id",
        references = "fk_demo_customers",
        ty = "bigint",
        backfill = "(SELECT c.id FROM fk_demo_customers AS c WHERE c.email = customer_email)",
        on_delete = "cascade",
        not_null
    )
)]
pub struct AddCustomerId;

const CUSTOMERS: i64 = 1_000;
const ORDERS: i64 = 20_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [AddCustomerId]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS fk_demo_orders;
         DROP TABLE IF EXISTS fk_demo_customers;
         CREATE TABLE fk_demo_customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE);
         INSERT INTO fk_demo_customers SELECT g, 'customer' || g || '@example.com' FROM generate_series(1, {CUSTOMERS}) g;
         CREATE TABLE fk_demo_orders (id bigint PRIMARY KEY, customer_email text NOT NULL, amount int NOT NULL);
         INSERT INTO fk_demo_orders
             SELECT g, 'customer' || (g % {CUSTOMERS} + 1) || '@example.com', g % 97 FROM generate_series(1, {ORDERS}) g;"
    ))?;
    println!("created fk_demo_customers ({CUSTOMERS} rows) and fk_demo_orders ({ORDERS} rows)\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, AddCustomerId.plan().phase(phase).summary);
        let report = runner.run(&AddCustomerId, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // The old application version, which knows orders by email only, still writes.
            runner.client().execute(
                "INSERT INTO fk_demo_orders (id, customer_email, amount) VALUES ($1, 'customer7@example.com', 1)",
                &[&(ORDERS + 1)],
            )?;
            println!("the old version inserted an order; the sync trigger gave it customer_id 7\n");
        }
    }

    let client = runner.client();
    let wrong: i64 = client
        .query_one(
            "SELECT count(*) FROM fk_demo_orders o WHERE o.customer_id IS DISTINCT FROM \
             (SELECT c.id FROM fk_demo_customers c WHERE c.email = o.customer_email)",
            &[],
        )?
        .get(0);
    if wrong != 0 {
        return Err(format!("{wrong} orders have a wrong customer_id").into());
    }
    let valid: bool = client
        .query_one(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_demo_orders_customer_id_fkey'",
            &[],
        )?
        .get(0);
    let not_null: bool = client
        .query_one(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'fk_demo_orders'::regclass AND attname = 'customer_id'",
            &[],
        )?
        .get(0);
    if !valid || !not_null {
        return Err(format!("expected a validated foreign key on a NOT NULL column, found validated = {valid}, NOT NULL = {not_null}").into());
    }
    client.batch_execute("DELETE FROM fk_demo_customers WHERE id = 7")?;
    let left: i64 = client
        .query_one("SELECT count(*) FROM fk_demo_orders WHERE customer_id = 7", &[])?
        .get(0);
    if left != 0 {
        return Err(format!("deleting customer 7 left {left} of its orders").into());
    }
    println!(
        "done: every order has its customer_id, NOT NULL and a validated foreign key that cascades deletes"
    );
    Ok(())
}
