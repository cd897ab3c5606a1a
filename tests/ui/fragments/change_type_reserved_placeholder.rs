use zdm_runtime::zero_downtime;

// `{range}` is replaced in the backfill's statements, so an expression cannot contain it.
#[zero_downtime(
    id = "m1",
    change_type(
        table = "orders",
        column = "note",
        to = "text",
        up = "note || '{range}'",
        down = "note::varchar(100)"
    )
)]
pub struct RetypeNote;

fn main() {}
