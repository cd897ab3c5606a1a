use zdm_runtime::zero_downtime;

// PostgreSQL builds unique indexes only with btree.
#[zero_downtime(id = "m1", add_index(table = "docs", columns = "tags", method = "gin", unique))]
pub struct Migration;

fn main() {}
