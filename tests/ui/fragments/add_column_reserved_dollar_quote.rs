use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "motto", ty = "text", default = "$zdm$hi$zdm$"))]
pub struct AddMotto;

fn main() {}
