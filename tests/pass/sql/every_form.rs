//! Every valid form of `sql` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", sql(up = "ALTER TABLE items ADD COLUMN note text", down = "ALTER TABLE items DROP COLUMN note"))]
pub struct Plain;

#[zero_downtime(
    id = "every_key",
    sql(
        up = "CREATE INDEX items_note ON items (note); COMMENT ON INDEX items_note IS 'for searches';",
        down = "DROP INDEX items_note",
        phase = "contract",
        lock = "share",
        down_discards = "nothing but the index"
    )
)]
pub struct EveryKey;

#[zero_downtime(
    id = "session_local_and_refresh",
    sql(
        up = "SET LOCAL statement_timeout = '1min'; REFRESH MATERIALIZED VIEW CONCURRENTLY \"Odd \"\"view\"\"\"",
        down = "SELECT 1",
        phase = "backfill",
        lock = "none"
    )
)]
pub struct SessionLocalAndRefresh;

zdm_runtime::migrations!(pub static MIGRATIONS = [Plain, EveryKey, SessionLocalAndRefresh]);

fn main() {
    use zdm_runtime::Migration;
    assert_eq!(MIGRATIONS.len(), 3);
    assert_eq!(EveryKey.plan().phase(zdm_runtime::Phase::Contract).forward.len(), 1);
}
