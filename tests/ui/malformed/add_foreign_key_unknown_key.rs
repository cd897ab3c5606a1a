use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_foreign_key(table = "orders", column = "customer_id", refrences = "customers", ty = "bigint")
)]
pub struct AddCustomerFk;

fn main() {}
