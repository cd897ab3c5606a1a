//! `rename_column`: a column gets a new name while the old and the new application version
//! both run. The new column is added beside the old one with the same type, kept in step by
//! a trigger in both directions, backfilled, and at contract the old column is dropped; its
//! default, NOT NULL, constraints and indexes are carried to the new one (see
//! [`crate::ops::column_swap`]), under their original names.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::column_swap::ColumnSwap;
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{Plan, Presented, PresentedColumn};

#[derive(Debug, FromMeta)]
pub struct RenameColumn {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    from: SpannedValue<String>,
    to: SpannedValue<String>,
    triggers_checked: Flag,
}

impl RenameColumn {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "from", "to", "triggers_checked"];
}

impl Operation for RenameColumn {
    /// The new column is filled from the old one until contract drops the old name.
    fn footprint(&self) -> Footprint {
        Footprint {
            changes: vec![relations::column(&self.table(), &self.to)],
            removes: vec![relations::column(&self.table(), &self.from)],
            swaps: true,
            ..Footprint::of(self.relations())
        }
    }

    fn relations(&self) -> Relations {
        Relations {
            uses: vec![
                relations::table(&self.table()),
                relations::column(&self.table(), &self.from),
            ],
            provides: vec![relations::column(&self.table(), &self.to)],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "from", &self.from);
        validate::identifier(errors, "to", &self.to);
        if *self.from == *self.to {
            validate::push(
                errors,
                self.to.span(),
                format_args!(
                    "`to` is the column's current name (`from` is \"{}\" too); give the name it should have after the rename",
                    *self.from
                ),
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        // The new version sees `from`'s values under `to` from the end of expand, when `to`
        // is still empty; the contract's swap shows `to` instead before it drops `from`.
        self.swap().plan(id, description).presenting(vec![Presented {
            table: self.table().sql().into(),
            columns: vec![PresentedColumn {
                name: self.to.as_str().to_owned().into(),
                instead_of: self.from.as_str().to_owned().into(),
                source: self.from.as_str().to_owned().into(),
            }]
            .into(),
            hidden: Vec::new().into(),
        }])
    }
}

impl RenameColumn {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    fn swap(&self) -> ColumnSwap<'_> {
        ColumnSwap {
            operation: Self::NAME,
            table: self.table(),
            column: &self.from,
            new_column: &self.to,
            ty: None,
            default: None,
            up: None,
            down: None,
            triggers_checked: self.triggers_checked.is_present(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Carry, CarryWork, Expectation, Step};

    fn parse(tokens: proc_macro2::TokenStream) -> RenameColumn {
        crate::testing::parse(tokens)
    }

    fn messages(rename: &RenameColumn) -> Vec<String> {
        crate::testing::messages(|errors| rename.validate(errors))
    }

    #[test]
    fn a_valid_rename_has_no_error() {
        assert!(messages(&parse(quote!(table = "users", from = "name", to = "full_name"))).is_empty());
        // Names differing in case are different columns in PostgreSQL.
        assert!(messages(&parse(quote!(table = "users", from = "Name", to = "name"))).is_empty());
    }

    #[test]
    fn renaming_to_the_same_name_is_refused() {
        let errors = messages(&parse(quote!(table = "users", from = "name", to = "name")));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("`to` is the column's current name"),
            "{errors:?}"
        );
    }

    #[test]
    fn identifiers_are_checked_all_at_once() {
        let long = "n".repeat(64);
        let errors = messages(&parse(quote!(table = "", from = #long, to = "")));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("`table` is empty"), "{errors:?}");
        assert!(errors[1].starts_with("`from` is 64 bytes long"), "{errors:?}");
        assert!(errors[2].starts_with("`to` is empty"), "{errors:?}");
    }

    #[test]
    fn expand_checks_the_schema_then_inspects_then_adds_the_column() {
        let plan = parse(quote!(table = "users", from = "name", to = "full_name")).plan("m", "");
        assert_eq!(plan.operation, "rename_column");
        let expect = |step: &Step| match &step.action {
            Action::Expect(expectation) => expectation.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            expect(&plan.phase(zdm_plan::Phase::Expand).forward[1]),
            Expectation::ColumnExists {
                table: "\"users\"".to_owned().into(),
                column: "name".to_owned().into(),
                ty: None
            }
        );
        assert_eq!(
            expect(&plan.phase(zdm_plan::Phase::Expand).forward[2]),
            Expectation::ColumnAbsent {
                table: "\"users\"".to_owned().into(),
                column: "full_name".to_owned().into()
            }
        );
        let works: Vec<_> = plan.phase(zdm_plan::Phase::Expand).forward[3..]
            .iter()
            .map(|step| match &step.action {
                Action::Carry(Carry { work, .. }) => work.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            works,
            [
                CarryWork::Inspect {
                    ty: None,
                    default: None,
                    converts: false,
                    up: None,
                    down: None,
                    triggers_checked: false
                },
                CarryWork::AddColumn,
            ]
        );
        let Action::Carry(carry) = &plan.phase(zdm_plan::Phase::Expand).forward[4].action else {
            panic!()
        };
        assert_eq!(
            carry.shape,
            "ALTER TABLE \"users\" ADD COLUMN \"full_name\" <type of \"name\"> <COLLATE of \"name\">"
        );
        assert_eq!(
            plan.phase(zdm_plan::Phase::Expand).reverse.len(),
            2,
            "drop the column, forget the record"
        );
    }

    #[test]
    fn the_sync_trigger_is_installed_in_sync_and_dropped_in_the_swap() {
        let plan = parse(quote!(table = "users", from = "name", to = "full_name")).plan("m", "");
        let Action::Carry(Carry {
            work: CarryWork::Transaction(install),
            ..
        }) = &plan.phase(zdm_plan::Phase::Sync).forward[0].action
        else {
            panic!()
        };
        assert!(install[2].starts_with(
            "CREATE TRIGGER \"zdm_sync_users_name_full_name\" BEFORE INSERT OR UPDATE ON \"users\" FOR EACH ROW"
        ));
        let Action::Carry(Carry {
            work: CarryWork::Swap { statements, rename },
            ..
        }) = &plan.phase(zdm_plan::Phase::Contract).forward[4].action
        else {
            panic!()
        };
        assert!(!rename, "a rename keeps the new column's name");
        assert_eq!(
            statements[0],
            "DROP TRIGGER IF EXISTS \"zdm_sync_users_name_full_name\" ON \"users\""
        );
    }
}
