use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_index(table = "users", columns = "email", where = "deleted_at IS NULL -- live rows"))]
pub struct IndexLiveEmails;

fn main() {}
