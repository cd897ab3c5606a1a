use zdm_runtime::zero_downtime;

// A dollar quote closes only with its own tag.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", default = "$tag$ x $other$"))]
pub struct M;

fn main() {}
