//! Every valid form of `set_replica_identity` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "full", set_replica_identity(table = "users", identity = "full"))]
pub struct Full;

#[zero_downtime(id = "default", set_replica_identity(table = "users", identity = "DEFAULT"))]
pub struct Default;

#[zero_downtime(id = "nothing", set_replica_identity(table = "users", identity = "nothing"))]
pub struct Nothing;

#[zero_downtime(id = "index", set_replica_identity(schema = "app", table = "users", index = "users_code_key"))]
pub struct Index;

zdm_runtime::migrations!(pub static MIGRATIONS = [Full, Default, Nothing, Index]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
}
