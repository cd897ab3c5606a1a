use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_foreign_key(table = "orders", column = "customer_id", references = "customers", ty = "bigint", on_delete = "set_null")
)]
pub struct AddCustomerFk;

fn main() {}
