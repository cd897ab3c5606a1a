use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "m1",
    add_index(
        table = "orders",
        columns = "customer_id",
        name = "orders_customer_id_created_at_with_a_name_far_too_long_for_postgres_idx"
    )
)]
pub struct Migration;

fn main() {}
