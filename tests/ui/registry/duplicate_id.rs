use zdm_runtime::zero_downtime;

#[zero_downtime(id = "2026_11_27_01", add_column(table = "users", column = "a", ty = "text"))]
pub struct AddA;

#[zero_downtime(id = "2026_11_27_01", add_column(table = "users", column = "b", ty = "text"))]
pub struct AddB;

zdm_runtime::migrations!(pub static MIGRATIONS = [AddA, AddB]);

fn main() {}
