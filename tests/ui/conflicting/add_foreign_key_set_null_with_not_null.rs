use zdm_runtime::zero_downtime;

// Deleting a customer would set the column to NULL, which NOT NULL refuses.
#[zero_downtime(
    id = "m1",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        references = "customers",
        ty = "bigint",
        backfill = "(SELECT c.id FROM customers AS c WHERE c.email = customer_email)",
        on_delete = "set null",
        not_null
    )
)]
pub struct AddCustomerFk;

fn main() {}
