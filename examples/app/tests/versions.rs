//! The pipeline pass of the test kit: the shop's old version (which knows `name` and no
//! `email_lower`) writes through expand, sync and backfill, both write at the roll-out,
//! and the new version (which writes `email_lower` and `full_name`) through contract.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shop::migrations::MIGRATIONS;
use zdm_runtime::testing::postgres::{Client, Error};
use zdm_runtime::testing::{FreshDatabase, Rehearsal, RehearsalError};
use zdm_runtime::Phase;

fn old_version(client: &mut Client, n: i64) -> Result<(), Error> {
    client.execute(
        "INSERT INTO customers (id, email, name) VALUES ($1, 'Old' || $1::bigint || '@Example.COM', 'old ' || $1::bigint)",
        &[&(100_000 + n)],
    )?;
    client.execute(
        "UPDATE customers SET name = 'renamed by old ' || $1::bigint WHERE id = 1",
        &[&n],
    )?;
    client.execute(
        "INSERT INTO orders (id, customer_id, total) VALUES ($1, 1, 9.99)",
        &[&(100_000 + n)],
    )?;
    Ok(())
}

/// Calls of a version's write: before each step of the phases it runs through, after each
/// of those phases, and once at the roll-out.
fn expected_calls(phases: &[Phase]) -> usize {
    let steps: usize = MIGRATIONS
        .iter()
        .flat_map(|migration| {
            phases
                .iter()
                .map(|&phase| migration.plan().phase(phase).forward.len() + 1)
        })
        .sum();
    steps + 1
}

#[test]
fn both_versions_keep_writing_through_the_pipeline() {
    let (old_calls, new_calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (old_count, new_count) = (Arc::clone(&old_calls), Arc::clone(&new_calls));
    Rehearsal::new("shop_versions")
        .schema(include_str!("../schema.sql"))
        .old_version(move |client, n| {
            old_count.fetch_add(1, Ordering::SeqCst);
            old_version(client, n)
        })
        .new_version(move |client, n| {
            new_count.fetch_add(1, Ordering::SeqCst);
            client.execute(
                "INSERT INTO customers (id, email, email_lower, full_name) \
                 VALUES ($1, 'New' || $1::bigint || '@Example.COM', 'new' || $1::bigint || '@example.com', \
                         'new ' || $1::bigint)",
                &[&(200_000 + n)],
            )?;
            client.execute(
                "UPDATE customers SET full_name = 'renamed by new ' || $1::bigint WHERE id = 2",
                &[&n],
            )?;
            Ok(())
        })
        .run(MIGRATIONS)
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(
        old_calls.load(Ordering::SeqCst),
        expected_calls(&[Phase::Expand, Phase::Sync, Phase::Backfill])
    );
    assert_eq!(
        new_calls.load(Ordering::SeqCst),
        expected_calls(&[Phase::Contract])
    );
}

#[test]
fn a_version_writing_a_column_contract_dropped_fails_naming_the_moment() {
    let failure = Rehearsal::new("shop_versions_stale")
        .schema(include_str!("../schema.sql"))
        .old_version(old_version)
        .new_version(|client, n| {
            // Still writes `name`, which the rename's contract drops.
            client.execute(
                "INSERT INTO customers (id, email, email_lower, name) VALUES ($1, 'x', 'x', 'stale')",
                &[&(200_000 + n)],
            )?;
            Ok(())
        })
        .run(MIGRATIONS)
        .unwrap_err();
    let RehearsalError::Write {
        version,
        moment,
        reason,
    } = &failure
    else {
        panic!("{failure}");
    };
    assert_eq!(
        (*version, moment.as_str()),
        ("new", "after contract of 2026_12_01_02_full_name")
    );
    assert!(reason.contains("(SQLSTATE 42703)"), "{reason}");
    assert!(
        failure.to_string().starts_with(
            "rehearsal: the new version's write failed after contract of 2026_12_01_02_full_name: "
        ),
        "{failure}"
    );
    drop(FreshDatabase::create("shop_versions_stale").unwrap());
}
