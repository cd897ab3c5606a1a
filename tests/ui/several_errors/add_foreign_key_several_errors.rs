use zdm_runtime::zero_downtime;

// Every problem of one declaration is reported in one build.
#[zero_downtime(
    id = "m1",
    add_foreign_key(
        table = "",
        column = "customer_id",
        references = "customers",
        ty = "bigserial",
        backfill = "(SELECT id FROM customers; DROP TABLE orders)",
        on_update = "cascades",
        on_delete = "set null",
        not_null
    )
)]
pub struct AddCustomerFk;

fn main() {}
