//! Every valid form of `split_table` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(
    id = "two_targets",
    split_table(
        table = "users",
        into(table = "user_profiles", columns = ["bio", "avatar_url"]),
        into(table = "user_logins", columns = ["email", "password_hash"])
    )
)]
pub struct TwoTargets;

#[zero_downtime(
    id = "composite_key",
    split_table(
        table = "line_items",
        key = ["order_id", "line"],
        into(table = "line_prices", columns = "price"),
        into(table = "line_notes", columns = ["note"]),
        into(table = "line_flags", columns = ["gift", "fragile"])
    )
)]
pub struct CompositeKey;

#[zero_downtime(
    id = "named_key",
    split_table(table = "accounts", key = "account_no", into(table = "account_names", columns = "name"), into(table = "account_limits", columns = "credit_limit"))
)]
pub struct NamedKey;

zdm_runtime::migrations!(pub static MIGRATIONS = [TwoTargets, CompositeKey, NamedKey]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 3);
}
