//! Every valid form of `create_enum` and `add_enum_value` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "mood", create_enum(name = "mood", values = ["sad", "ok"]))]
pub struct Mood;

#[zero_downtime(id = "one_value", create_enum(schema = "app", name = "flag", values = "on"))]
pub struct OneValue;

#[zero_downtime(id = "last", add_enum_value(name = "mood", value = "happy"))]
pub struct Last;

#[zero_downtime(id = "before", add_enum_value(name = "mood", value = "meh", before = "ok"))]
pub struct Before;

#[zero_downtime(id = "after", after(OneValue), add_enum_value(schema = "app", name = "flag", value = "off", after = "on"))]
pub struct After;

zdm_runtime::migrations!(pub static MIGRATIONS = [Mood, OneValue, Last, Before, After]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 5);
}
