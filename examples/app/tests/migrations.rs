//! The shop's migrations rehearsed by zdm's test kit: every phase run, reverted and run
//! again on a fresh database, each reversal giving back the catalog and rows exactly, and
//! each declaration's plan checksum matching `zdm.lock`.

use shop::migrations::MIGRATIONS;
use zdm_runtime::testing::Rehearsal;

#[test]
fn every_migration_rehearses_through_every_phase_and_reversal() {
    Rehearsal::new("shop_migrations")
        .schema(include_str!("../schema.sql"))
        .lock_file("zdm.lock")
        .run(MIGRATIONS)
        .unwrap_or_else(|failure| panic!("{failure}"));
}
