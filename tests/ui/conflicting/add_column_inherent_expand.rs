// The phase functions are inherent: a user's own inherent `expand` on the declaration is a
// duplicate definition, reported at both.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "m", add_column(table = "t", column = "c", ty = "text"))]
pub struct AddC;

impl AddC {
    pub fn expand() {}
}

fn main() {}
