use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m1", add_column(table = "users", column = "phone", ty = "text"))]
pub struct AddPhone;

// The index is on email_lower, which AddPhone does not create.
#[zero_downtime(id = "m2", after(AddPhone), add_index(table = "users", columns = "email_lower"))]
pub struct IndexEmailLower;

fn main() {}
