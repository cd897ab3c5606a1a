//! `create_enum`: `CREATE TYPE … AS ENUM (…)` at expand, a catalog-only change no running
//! version notices. Its reversal drops the type only while nothing uses it: a column, a
//! function or a domain of that type is named in the refusal, so reverting never takes a
//! column's data with it (`DROP TYPE … CASCADE` would).

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::names::Names;
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::{quote_literal, MAX_IDENTIFIER_BYTES};
use crate::validate::{self, Errors};
use zdm_plan::sql::qualified;
use zdm_plan::{Action, Check, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct CreateEnum {
    schema: Option<SpannedValue<String>>,
    name: SpannedValue<String>,
    values: Names,
}

impl CreateEnum {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "name", "values"];
}

impl Operation for CreateEnum {
    fn relations(&self) -> Relations {
        Relations {
            provides: vec![relations::type_name(self.schema.as_deref().map(String::as_str), &self.name)],
            uses: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::identifier(errors, "name", &self.name);
        labels(errors, "values", &self.values);
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(),
            PhasePlan::nothing("nothing to sync: no version writes the type before it exists"),
            PhasePlan::nothing("nothing to backfill"),
            PhasePlan::nothing("nothing to contract: the type has been usable since expand"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

/// Enum labels: PostgreSQL refuses an empty one and one over 63 bytes, and a label listed
/// twice.
pub fn labels(errors: &mut Errors, key: &str, list: &Names) {
    if list.names.is_empty() {
        validate::push(
            errors,
            list.span,
            format_args!("`{key}` is an empty list; name at least one value"),
        );
    }
    for (at, label) in list.names.iter().enumerate() {
        label_problem(errors, key, label);
        if list.names[..at].iter().any(|earlier| earlier.as_str() == label.as_str()) {
            validate::push(
                errors,
                label.span(),
                format_args!("`{key}` lists \"{}\" twice; an enum value appears once", label.as_str()),
            );
        }
    }
}

/// One enum label: 1 to 63 bytes, as PostgreSQL stores it (`NAMEDATALEN - 1`).
pub fn label_problem(errors: &mut Errors, key: &str, label: &SpannedValue<String>) {
    if label.is_empty() {
        validate::push(errors, label.span(), format_args!("`{key}` has an empty value, which PostgreSQL refuses"));
    } else if label.len() > MAX_IDENTIFIER_BYTES {
        validate::push(
            errors,
            label.span(),
            format_args!(
                "`{key}` has a value of {} bytes; PostgreSQL refuses enum values over {MAX_IDENTIFIER_BYTES}",
                label.len()
            ),
        );
    } else if label.contains('\0') {
        validate::push(errors, label.span(), format_args!("`{key}` has a value with a NUL character"));
    }
}

/// A step on a type, which takes no table lock: `CREATE TYPE`, `ALTER TYPE … ADD VALUE` and
/// `DROP TYPE` lock the type itself, briefly.
pub fn type_step(description: String, statement: String) -> Step {
    Step {
        description: description.into(),
        lock: Lock::None,
        table: None,
        action: Action::Transaction(zdm_plan::texts([statement])),
    }
}

impl CreateEnum {
    fn type_q(&self) -> String {
        qualified(self.schema.as_deref().map(String::as_str), &self.name)
    }

    fn expand(&self) -> PhasePlan {
        let type_q = self.type_q();
        let type_l = quote_literal(&type_q);
        let values: Vec<String> = self.values.names.iter().map(|value| quote_literal(value)).collect();
        // A name the search path already resolves to a type (a table's row type too) would
        // make CREATE TYPE fail or shadow it; either way the declaration meant a new type.
        let absent = Step::check(
            format!("check that no type {type_q} exists"),
            Lock::None,
            None,
            Check::new(
                format!("no type named {type_q}"),
                format!("SELECT count(*) FROM pg_type WHERE oid = to_regtype({type_l})"),
                format!("SELECT format_type(oid, NULL) FROM pg_type WHERE oid = to_regtype({type_l})"),
            ),
        );
        let unused = Step::check(
            format!("check that nothing uses {type_q}"),
            Lock::None,
            None,
            Check::new(
                format!("nothing uses the type {type_q}, which the reversal drops"),
                format!(
                    "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_type'::regclass \
                     AND refobjid = to_regtype({type_l}) AND deptype = 'n'"
                ),
                format!(
                    "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend \
                     WHERE refclassid = 'pg_type'::regclass AND refobjid = to_regtype({type_l}) AND deptype = 'n' \
                     ORDER BY 1 LIMIT 5"
                ),
            ),
        );
        PhasePlan::new(
            format!("create the enum type {type_q}: the new version may use it once expand has finished"),
            vec![
                absent,
                type_step(
                    format!("create type {type_q}"),
                    format!("CREATE TYPE {type_q} AS ENUM ({})", values.join(", ")),
                ),
            ],
            vec![
                unused,
                type_step(format!("drop type {type_q}"), format!("DROP TYPE IF EXISTS {type_q}")),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> CreateEnum {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    #[test]
    fn values_are_one_to_63_bytes_and_each_listed_once() {
        assert!(messages(quote!(name = "mood", values = ["sad", "ok"])).is_empty());
        let long = "v".repeat(64);
        let errors = messages(quote!(name = "mood", values = ["", "ok", "ok", #long]));
        assert_eq!(
            errors,
            [
                "`values` has an empty value, which PostgreSQL refuses",
                "`values` lists \"ok\" twice; an enum value appears once",
                "`values` has a value of 64 bytes; PostgreSQL refuses enum values over 63",
            ]
        );
        assert_eq!(
            messages(quote!(name = "mood", values = [])),
            ["`values` is an empty list; name at least one value"]
        );
    }

    #[test]
    fn expand_creates_the_type_and_its_reversal_drops_it_once_unused() {
        let plan = parse(quote!(schema = "app", name = "mood", values = ["sad", "it's ok"])).plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        assert_eq!(
            expand.forward[1].statements(),
            ["CREATE TYPE \"app\".\"mood\" AS ENUM ('sad', 'it''s ok')"]
        );
        assert!(matches!(expand.reverse[0].action, Action::Check(_)));
        assert_eq!(expand.reverse[1].statements(), ["DROP TYPE IF EXISTS \"app\".\"mood\""]);
    }
}
