use zdm_runtime::zero_downtime;

// Each column's sync trigger would fill it again when the other's backfill is reverted.
#[zero_downtime(
    id = "m1",
    add_column(table = "orders", column = "total_cents", ty = "bigint", backfill = "total * 100"),
    add_column(table = "orders", column = "note_upper", ty = "text", backfill = "upper(note)")
)]
pub struct TwoDerivedColumns;

fn main() {}
