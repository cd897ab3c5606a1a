use zdm_runtime::zero_downtime;

// `after` names the declaration creating `mood`, but the value goes into `shade`.
#[zero_downtime(id = "m1", create_enum(name = "mood", values = ["sad", "ok"]))]
pub struct CreateMood;

#[zero_downtime(id = "m2", after(CreateMood), add_enum_value(name = "shade", value = "grey"))]
pub struct AddGrey;

fn main() {}
