//! Expansion snapshots: for each declaration, the plan's SQL phase by phase, then the code
//! the attribute generates, formatted. A reviewer reads the exact SQL of every phase in the
//! `.snap` files; `cargo insta review` shows what a change altered.

use proc_macro2::TokenStream;
use quote::quote;

/// The snapshot text of one declaration.
pub fn expansion(attr: TokenStream, item: TokenStream) -> String {
    let parsed: syn::ItemStruct = syn::parse2(item.clone()).expect("test items are structs");
    let mut out = format!("#[zero_downtime({attr})]\n\n");
    match crate::expand::declaration(attr.clone(), &parsed) {
        // What `plan` prints: the same statements the runtime runs and checksums.
        Ok(declaration) => out.push_str(&declaration.plan.to_string()),
        Err(errors) => out.push_str(&format!("errors: {errors}\n")),
    }
    let code = crate::expand::zero_downtime(attr, item);
    let file: syn::File = syn::parse2(code).expect("the expansion parses as a file");
    out.push_str("\n---- generated code ----\n");
    out.push_str(&prettyplease::unparse(&file));
    out
}

macro_rules! snapshot {
    ($name:ident, $($attr:tt)*) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(expansion(quote!($($attr)*), quote!(pub struct Migration;)));
        }
    };
}

snapshot!(
    add_column_expression_not_null_index,
    id = "m1",
    add_column(
        table = "users",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
);
snapshot!(
    add_column_constant_default,
    id = "m2",
    add_column(
        table = "users",
        column = "verified",
        ty = "boolean",
        default = "false",
        not_null
    )
);
snapshot!(
    add_column_volatile_default,
    id = "m3",
    add_column(
        table = "users",
        column = "token",
        ty = "uuid",
        default = "gen_random_uuid()"
    )
);
snapshot!(
    add_column_plain,
    id = "m4",
    add_column(table = "users", column = "nickname", ty = "varchar(40)")
);
snapshot!(
    add_index_unique_partial,
    id = "i1", add_index(table = "orders", columns = ["customer_id", "created_at"], unique, where = "deleted_at IS NULL")
);
snapshot!(
    add_index_expression_gin,
    id = "i2",
    add_index(
        table = "docs",
        expression = "to_tsvector('english', body)",
        method = "gin"
    )
);
snapshot!(
    add_foreign_key_new_column,
    id = "f1",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        references = "customers",
        backfill = "(SELECT c.id FROM customers c WHERE c.email = customer_email)",
        on_delete = "set null"
    )
);
snapshot!(
    add_foreign_key_existing_not_null,
    id = "f2",
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        references = "customers",
        existing_column,
        not_null
    )
);
snapshot!(
    add_not_null_check_only,
    id = "n1",
    add_not_null(table = "users", column = "email")
);
snapshot!(
    add_not_null_with_backfill,
    id = "n2",
    add_not_null(table = "users", column = "country", backfill = "'unknown'")
);
snapshot!(
    rename_table,
    id = "r1",
    rename_table(from = "customers", to = "clients")
);
snapshot!(
    split_table,
    id = "s1",
    split_table(
        table = "users",
        into(table = "user_profiles", columns = ["bio", "avatar_url"]),
        into(table = "user_logins", columns = ["email", "password_hash"])
    )
);
snapshot!(
    after_another_declaration,
    id = "a1",
    after(AddEmailLower),
    add_index(table = "users", columns = "email_lower")
);
snapshot!(
    rename_column,
    id = "c1",
    rename_column(table = "users", from = "name", to = "full_name")
);
snapshot!(
    change_type_implicit_cast,
    id = "t1",
    change_type(table = "orders", column = "amount", to = "numeric(12,2)")
);
snapshot!(
    change_type_declared_conversions,
    id = "t2",
    change_type(
        table = "orders",
        column = "amount",
        to = "bigint",
        up = "amount * 100",
        down = "amount / 100",
        default = "0"
    )
);

snapshot!(
    add_column_in_a_declared_schema,
    id = "m_schema",
    add_column(
        schema = "app",
        table = "users",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
);

snapshot!(
    rename_table_in_a_declared_schema,
    id = "t_schema",
    rename_table(schema = "app", from = "users", to = "members")
);

snapshot!(
    split_table_in_a_declared_schema,
    id = "s_schema",
    split_table(
        schema = "app",
        table = "users",
        into(table = "profiles", columns = ["bio"]),
        into(table = "logins", columns = ["email"])
    )
);

snapshot!(
    change_type_in_a_declared_schema,
    id = "c_schema",
    change_type(
        schema = "app",
        table = "orders",
        column = "total",
        to = "numeric(12,2)"
    )
);

snapshot!(
    add_foreign_key_across_schemas,
    id = "f_schema",
    add_foreign_key(
        schema = "app",
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        references_schema = "crm",
        references = "customers"
    )
);

snapshot!(
    add_column_default_the_catalog_decides,
    id = "m_decided",
    add_column(
        table = "users",
        column = "code",
        ty = "text",
        default = "next_code('u')",
        not_null
    )
);

snapshot!(
    several_operations_in_one_declaration,
    id = "m_several",
    add_column(
        table = "orders",
        column = "customer_id",
        ty = "bigint",
        backfill = "(id % 5) + 1"
    ),
    add_index(table = "orders", columns = ["customer_id", "created_at"]),
    add_foreign_key(
        table = "orders",
        column = "customer_id",
        references = "customers",
        existing_column
    ),
    add_not_null(table = "customers", column = "name", backfill = "'nameless'")
);
snapshot!(
    drop_index_recorded,
    id = "c_drop_index",
    drop_index(table = "users", index = "users_email_idx")
);
snapshot!(
    drop_constraint_recorded,
    id = "c_drop_constraint",
    drop_constraint(schema = "app", table = "users", constraint = "users_age_check")
);
snapshot!(
    rename_index_at_contract,
    id = "c_rename_index",
    rename_index(table = "users", from = "users_email_idx", to = "users_by_email")
);
snapshot!(
    rename_constraint_at_contract,
    id = "c_rename_constraint",
    rename_constraint(
        table = "users",
        from = "users_age_check",
        to = "users_age_positive"
    )
);
snapshot!(
    drop_not_null_at_expand,
    id = "c_drop_not_null",
    drop_not_null(table = "users", column = "email")
);
snapshot!(
    set_default_volatile,
    id = "c_set_default",
    set_default(table = "users", column = "token", default = "gen_random_uuid()")
);
snapshot!(
    drop_default_at_contract,
    id = "c_drop_default",
    drop_default(table = "users", column = "status")
);
snapshot!(
    set_replica_identity_index,
    id = "c_replica_identity",
    set_replica_identity(table = "users", index = "users_code_key")
);
snapshot!(
    add_check_refusing_violations,
    id = "c1",
    add_check(
        table = "items",
        name = "items_price_not_negative",
        check = "price >= 0"
    )
);
snapshot!(
    add_check_with_fix,
    id = "c2",
    add_check(
        schema = "shop",
        table = "items",
        name = "items_price_not_negative",
        check = "price >= 0",
        fix_column = "price",
        fix = "abs(price)"
    )
);
snapshot!(
    add_unique,
    id = "u1",
    add_unique(table = "accounts", columns = ["tenant", "email"])
);
snapshot!(
    add_primary_key,
    id = "p1",
    add_primary_key(schema = "app", table = "events", columns = ["id"])
);
snapshot!(
    create_enum,
    id = "e1",
    create_enum(name = "mood", values = ["sad", "ok"])
);
snapshot!(
    add_enum_value_before,
    id = "e2",
    add_enum_value(name = "mood", value = "happy", before = "ok")
);
snapshot!(
    sql_raw_statements_with_their_reversal,
    id = "raw",
    sql(
        up = "ALTER TABLE items ADD COLUMN note text; COMMENT ON COLUMN items.note IS 'free text'",
        down = "ALTER TABLE items DROP COLUMN note",
        phase = "expand",
        lock = "ACCESS EXCLUSIVE",
        down_discards = "every value of items.note"
    )
);

snapshot!(
    drop_table_set_aside,
    id = "drop_legacy",
    drop_table(schema = "app", table = "legacy")
);

snapshot!(
    drop_column_soft_with_down,
    id = "drop_code",
    drop_column(table = "items", column = "code", down = "upper(label)")
);

snapshot!(
    create_table_with_key_and_constraints,
    id = "create_events",
    create_table(
        table = "item_events",
        column(name = "id", ty = "bigint"),
        column(name = "item_id", ty = "bigint", not_null, references = "items"),
        column(
            name = "kind",
            ty = "text",
            default = "'note'",
            not_null,
            check = "kind <> ''"
        ),
        column(name = "code", ty = "text", unique),
        primary_key = "id",
        check = "id > 0"
    )
);
