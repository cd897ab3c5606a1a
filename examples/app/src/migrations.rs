//! The shop's schema changes, in the order they run. An id is the date, the change's
//! number that day and what it does; a declaration never changes once its migration has
//! started anywhere (`zdm.lock` holds each one's plan checksum).

use zdm_runtime::zero_downtime;

/// Customers get a lower-cased copy of their email, indexed and required.
#[zero_downtime(
    id = "2026_12_01_01_email_lower",
    add_column(
        table = "customers",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
pub struct AddEmailLower;

/// `customers.name` becomes `full_name`.
#[zero_downtime(
    id = "2026_12_01_02_full_name",
    rename_column(table = "customers", from = "name", to = "full_name")
)]
pub struct RenameName;

/// Every order's customer exists.
#[zero_downtime(
    id = "2026_12_02_01_orders_customer_fk",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        references = "customers",
        existing_column
    )
)]
pub struct OrdersCustomerFk;

zdm_runtime::migrations!(pub static MIGRATIONS = [AddEmailLower, RenameName, OrdersCustomerFk]);
