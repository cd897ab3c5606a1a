//! `drop_not_null`: a column starts accepting NULLs. Only the catalog changes, and at
//! expand: the new version may write NULLs as soon as it runs, and the old one never
//! notices a constraint less.
//!
//! The reversal puts NOT NULL back the way `add_not_null` does, without a scan under
//! ACCESS EXCLUSIVE: it counts the NULLs the new version wrote (refusing, with samples,
//! while any remain), then `CHECK … NOT VALID`, `VALIDATE`, `SET NOT NULL` proven by the
//! check, and the check's removal.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::recorded::{catalog_holds, regclass};
use crate::ops::steps;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{quote_ident, quote_literal};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct DropNotNull {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
}

impl DropNotNull {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column"];
}

impl Operation for DropNotNull {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![
                relations::table(&self.table()),
                relations::column(&self.table(), &self.column),
            ],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(),
            PhasePlan::nothing("nothing to sync: both versions write through the same column"),
            PhasePlan::nothing("nothing to backfill: no value changes"),
            PhasePlan::nothing("nothing to contract: NULLs were allowed at expand"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl DropNotNull {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn expand(&self) -> PhasePlan {
        let table = self.table();
        let column = self.column.as_str();
        let (table_q, column_q) = (table.sql(), quote_ident(column));
        let mut reverse = vec![steps::drop_not_null_check(&table, column)];
        reverse.extend(steps::set_not_null(&table, column));
        PhasePlan::new(
            format!("drop NOT NULL from {table_q}.{column_q}: catalog only"),
            vec![
                steps::table_exists(&table_q),
                steps::column_exists(&table_q, column, None),
                catalog_holds(
                    format!("{table_q}.{column_q} is NOT NULL"),
                    &format!(
                        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {} AND attname = {} AND attnotnull)",
                        regclass(&table_q),
                        quote_literal(column)
                    ),
                    "'it accepts NULLs already'",
                ),
                steps::constraint_absent(&table_q, &steps::not_null_check_name(&table, column)),
                Step::transaction(
                    format!("drop NOT NULL from {column_q}"),
                    Lock::AccessExclusive,
                    &table_q,
                    [format!("ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP NOT NULL")],
                ),
            ],
            reverse,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn the_reversal_is_add_not_null_s_safe_route() {
        let plan = crate::testing::parse::<DropNotNull>(quote!(table = "users", column = "email")).plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        assert_eq!(
            expand.forward.last().unwrap().statements(),
            ["ALTER TABLE \"users\" ALTER COLUMN \"email\" DROP NOT NULL"]
        );
        let reverse: Vec<&str> = expand.reverse.iter().flat_map(|step| step.statements()).collect();
        assert_eq!(
            reverse,
            [
                "ALTER TABLE \"users\" DROP CONSTRAINT IF EXISTS \"zdm_users_email_nn\"",
                "SELECT count(*) FROM \"users\" WHERE \"email\" IS NULL",
                "ALTER TABLE \"users\" ADD CONSTRAINT \"zdm_users_email_nn\" CHECK (\"email\" IS NOT NULL) NOT VALID",
                "ALTER TABLE \"users\" VALIDATE CONSTRAINT \"zdm_users_email_nn\"",
                "ALTER TABLE \"users\" ALTER COLUMN \"email\" SET NOT NULL",
                "ALTER TABLE \"users\" DROP CONSTRAINT \"zdm_users_email_nn\"",
            ]
        );
    }
}
