use zdm_runtime::zero_downtime;

// `triggers_checked` is a flag: its presence is the statement that the triggers were checked.
#[zero_downtime(id = "m1", rename_column(table = "users", from = "email", to = "email_addr", triggers_checked = true))]
pub struct M;

fn main() {}
