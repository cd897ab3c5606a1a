use zdm_runtime::zero_downtime;

// `referenced_column` defaults to "id": a tree needs its parent column named.
#[zero_downtime(id = "m1", add_foreign_key(table = "nodes", column = "id", references = "nodes", existing_column))]
pub struct LinkNodes;

fn main() {}
