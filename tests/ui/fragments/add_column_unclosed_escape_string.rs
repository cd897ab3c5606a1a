use zdm_runtime::zero_downtime;

// In an E-string `\'` is a quote, so the string never closes.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", default = r"E'it\'s"))]
pub struct M;

fn main() {}
