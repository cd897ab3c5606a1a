use zdm_runtime::zero_downtime;

// An unknown key is answered with the operation's keys, however many it has.
#[zero_downtime(id = "m1", add_foreign_key(table = "orders", column = "customer_id", references = "customers", ty = "bigint", on_delte = "cascade"))]
pub struct M;

fn main() {}
