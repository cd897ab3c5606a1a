//! Every valid form of `add_unique` and `add_primary_key` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "one_column", add_unique(table = "users", columns = "email"))]
pub struct OneColumn;

#[zero_downtime(id = "named", add_unique(schema = "app", table = "users", columns = ["tenant", "email"], name = "users_tenant_email"))]
pub struct Named;

#[zero_downtime(id = "primary_key", add_primary_key(table = "events", columns = ["id"]))]
pub struct PrimaryKey;

#[zero_downtime(id = "named_primary_key", add_primary_key(schema = "app", table = "events", columns = ["day", "id"], name = "events_key"))]
pub struct NamedPrimaryKey;

zdm_runtime::migrations!(pub static MIGRATIONS = [OneColumn, Named, PrimaryKey, NamedPrimaryKey]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
}
