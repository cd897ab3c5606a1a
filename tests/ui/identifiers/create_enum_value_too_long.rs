use zdm_runtime::zero_downtime;

// PostgreSQL refuses values over 63 bytes.
#[zero_downtime(id = "m1", create_enum(name = "mood", values = ["sad", "an_enum_value_that_is_much_longer_than_the_sixty_three_bytes_postgresql_keeps"]))]
pub struct Migration;

fn main() {}
