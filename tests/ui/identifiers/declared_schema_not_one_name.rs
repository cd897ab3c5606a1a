use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_column(schema = "", table = "users", column = "verified", ty = "boolean")
)]
pub struct EmptySchema;

#[zero_downtime(
    id = "m2",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        references_schema = "a_schema_name_that_runs_past_the_sixty_three_bytes_postgres_keeps",
        references = "customers"
    )
)]
pub struct LongReferencesSchema;

fn main() {}
