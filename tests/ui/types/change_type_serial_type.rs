use zdm_runtime::zero_downtime;

// `bigserial` is not a type; the column changes to bigint and keeps its sequence default.
#[zero_downtime(id = "m1", change_type(table = "orders", column = "id", to = "bigserial"))]
pub struct WidenId;

fn main() {}
