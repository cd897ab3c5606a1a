use zdm_runtime::zero_downtime;

// `a$$` is one identifier, so the `;` after it is live SQL, not inside a dollar quote.
#[zero_downtime(id = "m1", add_column(table = "users", column = "label", ty = "text", backfill = "a$$; DROP TABLE users; $$"))]
pub struct M;

fn main() {}
