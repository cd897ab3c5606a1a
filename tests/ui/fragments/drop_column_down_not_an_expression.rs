use zdm_runtime::zero_downtime;

// `down` is one SQL expression.
#[zero_downtime(id = "m1", drop_column(table = "items", column = "code", down = "upper(label) label"))]
pub struct M;

fn main() {}
