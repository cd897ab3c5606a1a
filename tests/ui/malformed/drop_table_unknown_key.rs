use zdm_runtime::zero_downtime;

// A misspelt key is named with the keys drop_table takes.
#[zero_downtime(id = "m1", drop_table(tabel = "legacy"))]
pub struct M;

fn main() {}
