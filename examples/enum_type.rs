//! `create_enum` and `add_enum_value`: creates an enum type in the database at
//! `DATABASE_URL`, a demo table using it, then adds a value between two others, printing what
//! each phase did and when the new version may write the value.
//!
//! ```sh
//! cargo run --example enum_type
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Orders have a status.
#[zero_downtime(id = "example_order_status", create_enum(name = "enum_demo_status", values = ["open", "shipped"]))]
pub struct CreateStatus;

/// Orders can be packed before they are shipped.
#[zero_downtime(
    id = "example_order_packed",
    after(CreateStatus),
    add_enum_value(name = "enum_demo_status", value = "packed", before = "shipped")
)]
pub struct AddPacked;

zdm_runtime::migrations!(pub static MIGRATIONS = [CreateStatus, AddPacked]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner
        .client()
        .batch_execute("DROP TABLE IF EXISTS enum_demo_orders; DROP TYPE IF EXISTS enum_demo_status;")?;
    runner.run_to(&CreateStatus, Phase::Contract)?;
    runner.client().batch_execute(
        "CREATE TABLE enum_demo_orders (id bigint PRIMARY KEY, status enum_demo_status NOT NULL);
         INSERT INTO enum_demo_orders SELECT g, 'open' FROM generate_series(1, 1000) g;",
    )?;
    println!("created enum_demo_status and enum_demo_orders\n");
    for phase in Phase::ALL {
        println!("{}: {}", phase, AddPacked.plan().phase(phase).summary);
        let report = runner.run(&AddPacked, phase)?;
        println!("{report}");
        if phase == Phase::Expand {
            // Expand has committed: the new version may write the value.
            runner.client().execute(
                "UPDATE enum_demo_orders SET status = 'packed' WHERE id <= 10",
                &[],
            )?;
            println!("the new version packed 10 orders\n");
        }
    }
    let order: Vec<String> = runner
        .client()
        .query("SELECT unnest(enum_range(NULL::enum_demo_status))::text", &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if order != ["open", "packed", "shipped"] {
        return Err(format!("expected open, packed, shipped; found {order:?}").into());
    }
    println!("done: enum_demo_status is open, packed, shipped");
    Ok(())
}
