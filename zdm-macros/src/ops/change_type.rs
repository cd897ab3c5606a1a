//! `change_type`: a column gets a new type and keeps its name. Unless the change is
//! binary-coercible, a column of the new type is added beside the old one
//! (`<column>_zdm_new`), kept in step by a trigger converting with `up` and `down`,
//! backfilled, and at contract swapped in under the old name, carrying the default,
//! NOT NULL, constraints and indexes (see [`crate::ops::column_swap`]).
//!
//! Whether the change is binary-coercible is decided at run time: the old type is only
//! known then. Expand tries `ALTER COLUMN … TYPE` on an empty scratch copy of the table
//! with the column's indexes, and takes the cheap path (that one catalog-only statement,
//! and nothing in the later phases) only when neither the table's file nor any index's
//! changed, which is PostgreSQL's own answer for `varchar(n)` → `varchar(m > n)` or
//! `text`, `numeric(p, s)` → `numeric(q > p, s)` and the like, and which also catches the
//! cases where an index would be rebuilt (a partial index whose predicate casts the
//! column). A CHECK or FOREIGN KEY on the column, or declared conversions, mean the copy.

use darling::util::{Flag, SpannedValue};
use darling::FromMeta;

use crate::ops::column_swap::ColumnSwap;
use crate::ops::Operation;
use crate::ops::footprint::Footprint;
use crate::relations::{self, Relations};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::names;
use zdm_plan::{Plan, Presented, PresentedColumn};

#[derive(Debug, FromMeta)]
pub struct ChangeType {
    schema: Option<SpannedValue<String>>,
    table: SpannedValue<String>,
    column: SpannedValue<String>,
    to: SpannedValue<String>,
    up: Option<SpannedValue<String>>,
    down: Option<SpannedValue<String>>,
    default: Option<SpannedValue<String>>,
    triggers_checked: Flag,
}

/// Placeholders zdm replaces in the statements it generates; an expression containing one
/// would be rewritten.
const PLACEHOLDERS: &[&str] = &["{range}", "{old_type}"];

/// The integer type behind a serial pseudo-type.
fn serial_base(ty: &str) -> Option<(String, &'static str)> {
    let name = ty.trim().to_ascii_lowercase();
    let base = match name.as_str() {
        "serial" | "serial4" => "integer",
        "bigserial" | "serial8" => "bigint",
        "smallserial" | "serial2" => "smallint",
        _ => return None,
    };
    Some((name, base))
}

impl ChangeType {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "column", "to", "up", "down", "default", "triggers_checked"];
}

impl Operation for ChangeType {
    /// The column is replaced by its transition column at contract: what another operation
    /// built on the old one would go with it.
    fn footprint(&self) -> Footprint {
        let column = relations::column(&self.table(), &self.column);
        Footprint {
            changes: vec![column.clone()],
            removes: vec![column],
            swaps: true,
            ..Footprint::of(self.relations())
        }
    }

    fn relations(&self) -> Relations {
        Relations {
            uses: vec![
                relations::table(&self.table()),
                relations::column(&self.table(), &self.column),
            ],
            provides: vec![relations::column(&self.table(), &self.column)],
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "column", &self.column);
        match serial_base(&self.to) {
            Some((serial, base)) => validate::push(
                errors,
                self.to.span(),
                format_args!(
                    "`to` is `{serial}`, a shorthand for {base} with a sequence default, not a type a column can change \
                     to; write `to = \"{base}\"` (the column keeps its default)"
                ),
            ),
            None => validate::type_name(errors, "to", &self.to),
        }
        for (key, value) in [("up", &self.up), ("down", &self.down), ("default", &self.default)] {
            let Some(value) = value else { continue };
            validate::expression(errors, key, value);
            if let Some(placeholder) = PLACEHOLDERS
                .iter()
                .find(|placeholder| value.contains(*placeholder))
            {
                validate::push(
                    errors,
                    value.span(),
                    format_args!(
                        "`{key}` contains `{placeholder}`, which zdm uses as a placeholder in the statements it generates"
                    ),
                );
            }
        }
        let missing = match (&self.up, &self.down) {
            (Some(up), None) => Some((up.span(), "up", "down", "the old type")),
            (None, Some(down)) => Some((down.span(), "down", "up", "the new type")),
            _ => None,
        };
        if let Some((span, given, needed, result)) = missing {
            validate::push(
                errors,
                span,
                format_args!(
                    "`{given}` needs `{needed}`: writes through the other column and reversals convert the other way; \
                     add `{needed} = \"…\"`, an expression over `{}` giving {result}, or leave both out for plain casts",
                    *self.column
                ),
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let new_column = self.new_column();
        ColumnSwap {
            operation: Self::NAME,
            table: self.table(),
            column: &self.column,
            new_column: &new_column,
            ty: Some(self.to.trim()),
            default: self.default.as_deref().map(String::as_str),
            up: self.up.as_deref().map(String::as_str),
            down: self.down.as_deref().map(String::as_str),
            triggers_checked: self.triggers_checked.is_present(),
        }
        .plan(id, description)
        // The new version sees the new column under the column's own name from expand on;
        // the contract's rename keeps the view's column (views follow attribute numbers).
        .presenting(vec![Presented {
            table: self.table().sql().into(),
            columns: vec![PresentedColumn {
                name: self.column.as_str().to_owned().into(),
                instead_of: self.column.as_str().to_owned().into(),
                source: new_column.into(),
            }]
            .into(),
            hidden: Vec::new().into(),
        }])
    }
}

impl ChangeType {
    fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    /// The column that holds the new type until the contract swaps it in.
    fn new_column(&self) -> String {
        names::transition_column(&self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use zdm_plan::{Action, Carry, CarryWork};

    fn parse(tokens: proc_macro2::TokenStream) -> ChangeType {
        crate::testing::parse(tokens)
    }

    fn messages(change: &ChangeType) -> Vec<String> {
        crate::testing::messages(|errors| change.validate(errors))
    }

    #[test]
    fn valid_declarations_have_no_error() {
        assert!(messages(&parse(quote!(
            table = "orders",
            column = "amount",
            to = "numeric(12,2)"
        )))
        .is_empty());
        assert!(messages(&parse(quote!(
            table = "orders",
            column = "amount",
            to = "numeric(12,2)",
            up = "amount / 100.0",
            down = "(amount * 100)::integer",
            default = "0"
        )))
        .is_empty());
    }

    #[test]
    fn the_type_is_checked() {
        let errors = messages(&parse(quote!(table = "t", column = "c", to = "integr")));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("`to` is not a PostgreSQL type"),
            "{errors:?}"
        );
        assert!(errors[0].contains("did you mean `integer`?"), "{errors:?}");
    }

    #[test]
    fn a_serial_type_is_refused_naming_its_integer_type() {
        let errors = messages(&parse(quote!(table = "t", column = "c", to = "BigSerial")));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("`to` is `bigserial`, a shorthand for bigint"),
            "{errors:?}"
        );
        assert!(errors[0].contains("write `to = \"bigint\"`"), "{errors:?}");
    }

    #[test]
    fn up_without_down_is_refused_and_the_other_way_round() {
        let errors = messages(&parse(quote!(
            table = "t",
            column = "c",
            to = "bigint",
            up = "c * 2"
        )));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`up` needs `down`"), "{errors:?}");
        let errors = messages(&parse(quote!(
            table = "t",
            column = "c",
            to = "bigint",
            down = "c / 2"
        )));
        assert!(errors[0].starts_with("`down` needs `up`"), "{errors:?}");
    }

    #[test]
    fn expressions_are_checked_and_placeholders_reserved() {
        let errors = messages(&parse(quote!(
            table = "t",
            column = "c",
            to = "text",
            up = "c::text; DROP TABLE t",
            down = "'{range}'"
        )));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("`up` contains `;`"), "{errors:?}");
        assert!(errors[1].starts_with("`down` contains `{range}`"), "{errors:?}");
        let errors = messages(&parse(quote!(
            table = "t",
            column = "c",
            to = "text",
            default = ""
        )));
        assert!(errors[0].starts_with("`default` is empty"), "{errors:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = messages(&parse(quote!(
            table = "",
            column = "",
            to = "bigserial",
            up = "("
        )));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn the_plan_converts_with_plain_casts_by_default() {
        let plan = parse(quote!(table = "orders", column = "amount", to = "numeric(12,2)")).plan("m", "");
        assert_eq!(plan.operation, "change_type");
        let Action::Carry(Carry {
            work:
                CarryWork::Inspect {
                    ty,
                    converts,
                    up,
                    down,
                    ..
                },
            new_column,
            ..
        }) = &plan.phase(zdm_plan::Phase::Expand).forward[3].action
        else {
            panic!()
        };
        assert_eq!(new_column, "amount_zdm_new");
        assert_eq!(ty.as_deref(), Some("numeric(12,2)"));
        assert!(!converts);
        assert_eq!(
            up.as_deref(),
            Some("(SELECT \"amount\"::numeric(12,2) FROM (SELECT \"amount\") AS zdm_row(\"amount\"))")
        );
        assert_eq!(
            down.as_deref(),
            Some("(SELECT \"amount\"::{old_type} FROM (SELECT \"amount_zdm_new\") AS zdm_row(\"amount\"))")
        );
        let Action::Carry(Carry {
            work: CarryWork::Swap { rename, .. },
            ..
        }) = &plan.phase(zdm_plan::Phase::Contract).forward[4].action
        else {
            panic!()
        };
        assert!(rename, "the new column takes the old name");
    }

    #[test]
    fn declared_conversions_are_used_by_trigger_and_backfill() {
        let plan = parse(quote!(
            table = "orders",
            column = "amount",
            to = "bigint",
            up = "amount * 100",
            down = "amount / 100"
        ))
        .plan("m", "");
        let Action::Carry(Carry {
            work: CarryWork::Transaction(install),
            ..
        }) = &plan.phase(zdm_plan::Phase::Sync).forward[0].action
        else {
            panic!()
        };
        assert!(install[0].contains(
            "NEW.\"amount_zdm_new\" := (SELECT (amount * 100) FROM (SELECT NEW.\"amount\") AS zdm_row(\"amount\"));"
        ));
        assert!(install[0].contains(
            "NEW.\"amount\" := (SELECT (amount / 100) FROM (SELECT NEW.\"amount_zdm_new\") AS zdm_row(\"amount\"));"
        ));
    }
}
