//! Changes column types while the old and the new application version both write: creates
//! a demo table, then
//! - changes `amount` from integer to numeric(12,2): a new column converted both ways by
//!   the sync trigger, backfilled, and swapped in under the old name with its default,
//!   NOT NULL, CHECK constraint and index;
//! - widens `note` from varchar(50) to varchar(200): binary-coercible, so a single
//!   catalog-only statement in expand and nothing to do in the later phases.
//!
//! Every phase's report is printed; the result is checked with SQL.
//!
//! ```sh
//! cargo run --example change_column_type
//! ```

use std::process::ExitCode;

use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Invoices get cents.
#[zero_downtime(
    id = "example_invoice_amount_numeric",
    change_type(table = "example_invoices", column = "amount", to = "numeric(12,2)")
)]
pub struct AmountToNumeric;

/// Notes may be longer.
#[zero_downtime(
    id = "example_invoice_note_wider",
    change_type(table = "example_invoices", column = "note", to = "varchar(200)")
)]
pub struct WidenNote;

const ROWS: i64 = 20_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [AmountToNumeric, WidenNote]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, example)
}

fn example(runner: &mut Runner) -> support::Outcome {
    runner.client().batch_execute(&format!(
        "DROP TABLE IF EXISTS example_invoices;
         CREATE TABLE example_invoices (
             id bigint PRIMARY KEY,
             amount integer NOT NULL DEFAULT 0 CHECK (amount >= 0),
             note varchar(50)
         );
         CREATE INDEX example_invoices_amount_idx ON example_invoices (amount);
         INSERT INTO example_invoices SELECT g, g % 1000, 'invoice ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created example_invoices with {ROWS} rows\n");

    println!("== amount: integer → numeric(12,2)\n");
    for phase in Phase::ALL {
        println!("{}: {}", phase, AmountToNumeric.plan().phase(phase).summary);
        let report = runner.run(&AmountToNumeric, phase)?;
        println!("{report}");
        if phase == Phase::Sync {
            // The old version writes whole euros to `amount` on the table, the new one
            // cents to `amount` through its version schema; the trigger converts each into
            // the other.
            runner.client().batch_execute(&format!(
                "INSERT INTO example_invoices (id, amount) VALUES (100001, 42);
                 INSERT INTO {}.example_invoices (id, amount) VALUES (100002, 17.25);
                 UPDATE example_invoices SET amount = 7 WHERE id = 1;",
                AmountToNumeric::VERSION_SCHEMA
            ))?;
            let old_shape: i32 = runner
                .client()
                .query_one("SELECT amount FROM example_invoices WHERE id = 100002", &[])?
                .get(0);
            println!(
                "the old version wrote 42 and 7, the new one 17.25 (which the old version reads as {old_shape})\n"
            );
        }
    }

    println!("== note: varchar(50) → varchar(200)\n");
    // In place: the table keeps its storage (no rewrite) and the copy path's later steps
    // all skip themselves.
    const FILENODE: &str = "SELECT pg_relation_filenode('example_invoices')::text::bigint";
    let filenode: i64 = runner.client().query_one(FILENODE, &[])?.get(0);
    for phase in Phase::ALL {
        let report = runner.run(&WidenNote, phase)?;
        println!("{report}");
        let note = |step: &zdm_runtime::StepReport| step.note.clone().unwrap_or_default();
        let in_place = match phase {
            Phase::Expand => report
                .steps
                .iter()
                .any(|step| note(step).starts_with("in place: ")),
            _ => {
                !report.steps.is_empty()
                    && report
                        .steps
                        .iter()
                        .all(|step| note(step) == "skipped: the type was changed in place")
            }
        };
        if !in_place {
            return Err(
                format!("{phase} of the note change did not report an in-place change:\n{report}").into(),
            );
        }
    }
    let rewritten = runner.client().query_one(FILENODE, &[])?.get::<_, i64>(0) != filenode;
    if rewritten {
        return Err("widening note rewrote example_invoices".into());
    }

    let client = runner.client();
    let checks = [
        (
            "amounts not converted",
            "SELECT count(*) FROM example_invoices WHERE amount IS DISTINCT FROM \
             CASE id WHEN 1 THEN 7 WHEN 100001 THEN 42 WHEN 100002 THEN 17.25 ELSE id % 1000 END",
        ),
        (
            "columns of the wrong type",
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'example_invoices'::regclass AND attnum > 0 \
             AND NOT attisdropped AND (attname, format_type(atttypid, atttypmod)) NOT IN \
             (('id', 'bigint'), ('amount', 'numeric(12,2)'), ('note', 'character varying(200)'))",
        ),
        (
            "carried objects missing",
            "SELECT 3 - count(*) FROM (
                 SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index
                 WHERE indexrelid = 'example_invoices_amount_idx'::regclass
                 UNION ALL
                 SELECT pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid = 'example_invoices'::regclass AND conname = 'example_invoices_amount_check'
                 UNION ALL
                 SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a
                     ON a.attrelid = d.adrelid AND a.attnum = d.adnum AND a.attnotnull
                 WHERE d.adrelid = 'example_invoices'::regclass AND a.attname = 'amount'
             ) carried WHERE definition LIKE '%amount%' OR definition = '0.00::numeric(12,2)'",
        ),
    ];
    for (what, sql) in checks {
        let count: i64 = client.query_one(sql, &[])?.get(0);
        if count != 0 {
            return Err(format!("{what}: {count}").into());
        }
    }
    println!(
        "done: amount is numeric(12,2), NOT NULL with its default, CHECK and index, and no write of either version \
         was lost; note was widened in place"
    );
    Ok(())
}
