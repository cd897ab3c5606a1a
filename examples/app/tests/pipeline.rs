//! The deploy pipeline of the README's "Use it in your application", run with the shop's
//! own `migrate` binary: `up --to backfill` before the new version rolls out, `up` once no
//! old version runs, and the exit codes a pipeline acts on.

use std::process::Command;

use zdm_runtime::testing::FreshDatabase;

/// Runs `migrate` with `args` against `url`: its exit code, stdout and stderr.
fn migrate(url: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("running migrate");
    (
        output.status.code().expect("migrate exited"),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn shop_database(name: &str) -> FreshDatabase {
    let database = FreshDatabase::create(name).unwrap_or_else(|error| panic!("{error}"));
    database
        .connect()
        .unwrap()
        .batch_execute(include_str!("../schema.sql"))
        .unwrap();
    database
}

#[test]
fn the_pipeline_runs_up_to_backfill_then_contract() {
    let database = shop_database("shop_pipeline");
    let url = database.url();
    let (code, _, stderr) = migrate(url, &["up", "--to", "backfill"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, status, _) = migrate(url, &["status"]);
    assert_eq!(code, 0);
    assert_eq!(
        status,
        "ID                                   OPERATION        COMPLETED  STATE
2026_12_01_01_email_lower            add_column       backfill   next: contract
2026_12_01_02_full_name              rename_column    backfill   next: contract
2026_12_02_01_orders_customer_fk     add_foreign_key  backfill   next: contract
"
    );
    // The new version rolls out here; once no old version runs:
    let (code, _, stderr) = migrate(url, &["up"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, status, _) = migrate(url, &["status"]);
    assert_eq!(
        status
            .lines()
            .filter(|line| line.ends_with(" contract   done"))
            .count(),
        3,
        "{status}"
    );
    let (code, stdout, _) = migrate(url, &["up"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "nothing to do: every phase asked for has completed\n")
    );
}

#[test]
fn a_pipeline_step_refused_or_wrongly_called_exits_with_its_code() {
    let database = shop_database("shop_pipeline_refused");
    let url = database.url();
    // Contract before the earlier phases: refused before any change.
    let (code, _, stderr) = migrate(url, &["contract", "2026_12_01_01_email_lower"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.starts_with("error: 2026_12_01_01_email_lower: cannot run contract: "),
        "{stderr}"
    );
    // A reversal that discards data needs --allow-data-loss.
    assert_eq!(migrate(url, &["expand", "2026_12_01_01_email_lower"]).0, 0);
    let (code, _, stderr) = migrate(url, &["revert", "2026_12_01_01_email_lower"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            3,
            "error: 2026_12_01_01_email_lower: reverting expand discards every value written to \
             \"customers\".\"email_lower\"; pass --allow-data-loss to revert anyway\n"
        )
    );
    let (code, _, stderr) = migrate(url, &["revert", "2026_12_01_01_email_lower", "--allow-data-loss"]);
    assert_eq!(code, 0, "{stderr}");
    // An unknown id is a usage error; no server is 6.
    let (code, _, stderr) = migrate(url, &["expand", "2026_12_01_99_nope"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = migrate("postgres://postgres@127.0.0.1:1/shop", &["status"]);
    assert_eq!(code, 6);
}

#[test]
fn a_declaration_changed_after_its_migration_started_is_refused() {
    use zdm_runtime::Migration;
    let database = shop_database("shop_pipeline_changed");
    let url = database.url();
    let id = "2026_12_01_01_email_lower";
    assert_eq!(migrate(url, &["expand", id]).0, 0);
    // What the database holds once a build with another declaration of this id ran expand.
    database
        .connect()
        .unwrap()
        .execute(
            "UPDATE zdm.migrations SET plan_checksum = '00000000000000ff' WHERE id = $1",
            &[&id],
        )
        .unwrap();
    let (code, _, stderr) = migrate(url, &["sync", id]);
    assert_eq!(
        (code, stderr),
        (
            3,
            format!(
                "error: {id}: the declaration changed after the migration started (plan checksum 00000000000000ff \
                 in the database, {} compiled); revert with the old build, or give the changed declaration a \
                 new id\n",
                shop::migrations::AddEmailLower.plan().checksum()
            )
        )
    );
}
