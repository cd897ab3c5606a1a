//! The test kit refuses a migration whose reversal loses data: order totals changed to
//! whole numbers cannot get their cents back when the change is reverted.

use zdm_runtime::testing::{FreshDatabase, Rehearsal, RehearsalError};
use zdm_runtime::{zero_downtime, Phase};

/// Order totals become whole numbers (a plain cast rounds the cents away).
#[zero_downtime(
    id = "2026_12_03_01_whole_totals",
    change_type(table = "orders", column = "total", to = "integer")
)]
pub struct WholeTotals;

zdm_runtime::migrations!(static LOSSY = [WholeTotals]);

#[test]
fn the_kit_fails_on_a_reversal_that_loses_data() {
    let failure = Rehearsal::new("shop_lossy_reversal")
        .schema(include_str!("../schema.sql"))
        .run(LOSSY)
        .expect_err("reverting contract cannot bring the cents back");
    // Until contract, `total` keeps its cents beside the rounded `total_zdm_new`; the
    // contract's reversal re-adds `total` from the rounded values.
    assert_eq!(
        failure.to_string(),
        "rehearsal of 2026_12_03_01_whole_totals: reverting contract did not restore the database as it was \
         before contract:
  - row of public.orders only before: {\"id\": 1, \"total\": 1.25, \"customer_id\": 2, \"total_zdm_new\": 1}
  - row of public.orders only before: {\"id\": 10, \"total\": 12.50, \"customer_id\": 11, \"total_zdm_new\": 13}
  - row of public.orders only before: {\"id\": 101, \"total\": 126.25, \"customer_id\": 102, \"total_zdm_new\": 126}
  - row of public.orders only before: {\"id\": 102, \"total\": 127.50, \"customer_id\": 103, \"total_zdm_new\": 128}
  - row of public.orders only before: {\"id\": 103, \"total\": 128.75, \"customer_id\": 104, \"total_zdm_new\": 129}
  - row of public.orders only before: … and 745 more
  - row of public.orders only after the reversal: {\"id\": 1, \"total\": 1.00, \"customer_id\": 2, \"total_zdm_new\": 1}
  - row of public.orders only after the reversal: {\"id\": 10, \"total\": 13.00, \"customer_id\": 11, \"total_zdm_new\": 13}
  - row of public.orders only after the reversal: {\"id\": 101, \"total\": 126.00, \"customer_id\": 102, \"total_zdm_new\": 126}
  - row of public.orders only after the reversal: {\"id\": 102, \"total\": 128.00, \"customer_id\": 103, \"total_zdm_new\": 128}
  - row of public.orders only after the reversal: {\"id\": 103, \"total\": 129.00, \"customer_id\": 104, \"total_zdm_new\": 129}
  - row of public.orders only after the reversal: … and 745 more"
    );
    assert!(matches!(
        failure,
        RehearsalError::NotRestored {
            phase: Some(Phase::Contract),
            ..
        }
    ));
    // The kit keeps a failed rehearsal's database for inspection; this failure was the point.
    drop(FreshDatabase::create("shop_lossy_reversal").unwrap());
}
