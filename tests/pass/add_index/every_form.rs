//! Every valid form of `add_index` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "plain", add_index(table = "orders", columns = "customer_id"))]
pub struct Plain;

#[zero_downtime(id = "composite", add_index(table = "orders", columns = ["customer_id", "created_at"]))]
pub struct Composite;

#[zero_downtime(id = "unique_partial", add_index(table = "users", columns = "email", unique, where = "deleted_at IS NULL"))]
pub struct UniquePartial;

#[zero_downtime(id = "expression", add_index(table = "users", expression = "lower(email)", unique))]
pub struct Expression;

#[zero_downtime(id = "gin", add_index(table = "docs", columns = "tags", method = "gin"))]
pub struct Gin;

#[zero_downtime(id = "gist", add_index(table = "places", columns = "area", method = "gist"))]
pub struct Gist;

#[zero_downtime(id = "brin", add_index(table = "events", columns = "created_at", method = "brin"))]
pub struct Brin;

#[zero_downtime(id = "hash", add_index(table = "sessions", columns = "token", method = "hash"))]
pub struct Hash;

#[zero_downtime(id = "spgist", add_index(table = "hosts", columns = "address", method = "spgist"))]
pub struct SpGist;

#[zero_downtime(
    id = "covering_named",
    add_index(table = "orders", columns = "customer_id", include = ["total", "status"], name = "orders_by_customer")
)]
pub struct CoveringNamed;

zdm_runtime::migrations!(pub static MIGRATIONS = [
    Plain, Composite, UniquePartial, Expression, Gin, Gist, Brin, Hash, SpGist, CoveringNamed,
]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 10);
}
