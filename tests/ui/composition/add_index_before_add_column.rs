use zdm_runtime::zero_downtime;

// Each phase runs the operations in written order: the index would be built before the column.
#[zero_downtime(
    id = "m1",
    add_index(table = "users", columns = "nickname"),
    add_column(table = "users", column = "nickname", ty = "text")
)]
pub struct IndexNickname;

fn main() {}
