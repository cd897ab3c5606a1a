//! Every valid form of `add_column` compiles.
use zdm_runtime::{zero_downtime, Migration};

#[zero_downtime(id = "plain", add_column(table = "users", column = "nickname", ty = "varchar(40)"))]
pub struct Plain;

#[zero_downtime(id = "constant", add_column(table = "users", column = "verified", ty = "boolean", default = "false"))]
pub struct ConstantDefault;

#[zero_downtime(
    id = "constant_not_null",
    add_column(table = "users", column = "score", ty = "numeric(12, 2)", default = "0", not_null)
)]
pub struct ConstantNotNull;

#[zero_downtime(id = "volatile", add_column(table = "users", column = "token", ty = "uuid", default = "gen_random_uuid()"))]
pub struct VolatileDefault;

#[zero_downtime(
    id = "expression",
    add_column(table = "users", column = "email_lower", ty = "text", backfill = "lower(email)", not_null, index)
)]
pub struct Expression;

#[zero_downtime(
    id = "expression_and_default",
    add_column(table = "users", column = "tier", ty = "text", default = "'free'", backfill = "CASE WHEN paid THEN 'paid' ELSE 'free' END")
)]
pub struct ExpressionAndDefault;

/// Quoted, upper-case and reserved names are quoted in SQL, and user types are written quoted.
#[zero_downtime(id = "odd.names-1", add_column(table = "Order Items", column = "select", ty = "\"public\".\"mood\"[]"))]
pub struct OddNames;

#[zero_downtime(
    id = "timestamps",
    add_column(table = "events", column = "seen_at", ty = "timestamp with time zone", default = "now()", not_null)
)]
pub struct Timestamps;

zdm_runtime::migrations!(pub static MIGRATIONS = [
    Plain, ConstantDefault, ConstantNotNull, VolatileDefault, Expression, ExpressionAndDefault, OddNames, Timestamps,
]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 8);
    assert!(OddNames.plan().phase(zdm_runtime::Phase::Expand).forward.len() == 3);
}
