//! Every valid form of `add_check` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "refused", add_check(table = "items", name = "price_positive", check = "price > 0"))]
pub struct Refused;

#[zero_downtime(id = "fixed", add_check(schema = "shop", table = "items", name = "label_short", check = "length(label) < 80", fix_column = "label", fix = "left(label, 79)"))]
pub struct Fixed;

zdm_runtime::migrations!(pub static MIGRATIONS = [Refused, Fixed]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
}
