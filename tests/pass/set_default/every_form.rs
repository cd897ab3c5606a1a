//! Every valid form of `set_default` compiles.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "constant", set_default(table = "users", column = "score", default = "0"))]
pub struct Constant;

#[zero_downtime(id = "volatile", set_default(table = "users", column = "token", default = "gen_random_uuid()"))]
pub struct Volatile;

#[zero_downtime(id = "own_function", set_default(schema = "app", table = "users", column = "code", default = "app.next_code()"))]
pub struct OwnFunction;

zdm_runtime::migrations!(pub static MIGRATIONS = [Constant, Volatile, OwnFunction]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 3);
}
