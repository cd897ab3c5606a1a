use zdm_runtime::zero_downtime;

// An enum value appears once.
#[zero_downtime(id = "m1", create_enum(name = "mood", values = ["sad", "ok", "sad"]))]
pub struct Migration;

fn main() {}
