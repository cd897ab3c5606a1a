//! `add_enum_value`: `ALTER TYPE … ADD VALUE IF NOT EXISTS … [BEFORE | AFTER …]` at expand,
//! catalog only. PostgreSQL lets no transaction use a value added in it, so the value is
//! usable from expand's commit on: the plan says the new version may write it once expand
//! has finished, and the old version never writes it.
//!
//! PostgreSQL cannot drop a value from an enum, short of rebuilding the type and rewriting
//! every column of it. The reversal therefore refuses while any row holds the value (naming
//! the columns), and otherwise leaves the unused value in the type, which no version
//! writes: the old version runs as before, and expand run again finds it there.

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::ops::create_enum::{label_problem, type_step};
use crate::ops::Operation;
use crate::relations::{self, Relations};
use crate::sql::quote_literal;
use crate::validate::{self, Errors};
use zdm_plan::sql::qualified;
use zdm_plan::{Check, Lock, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct AddEnumValue {
    schema: Option<SpannedValue<String>>,
    /// The enum type.
    name: SpannedValue<String>,
    value: SpannedValue<String>,
    before: Option<SpannedValue<String>>,
    after: Option<SpannedValue<String>>,
}

impl AddEnumValue {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "name", "value", "before", "after"];
}

impl Operation for AddEnumValue {
    fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::type_name(self.schema.as_deref().map(String::as_str), &self.name)],
            provides: Vec::new(),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        validate::schema(errors, "schema", &self.schema);
        validate::identifier(errors, "name", &self.name);
        label_problem(errors, "value", &self.value);
        for (key, neighbour) in [("before", &self.before), ("after", &self.after)] {
            let Some(neighbour) = neighbour else { continue };
            label_problem(errors, key, neighbour);
            if neighbour.as_str() == self.value.as_str() {
                validate::push(
                    errors,
                    neighbour.span(),
                    format_args!("`{key}` names the value being added; name the existing value it goes {key}"),
                );
            }
        }
        if let (Some(_), Some(after)) = (&self.before, &self.after) {
            validate::push(
                errors,
                after.span(),
                "`before` and `after` exclude each other: PostgreSQL places a new value by one neighbour",
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phases = [
            self.expand(),
            PhasePlan::nothing("nothing to sync: the old version never writes the new value"),
            PhasePlan::nothing("nothing to backfill"),
            PhasePlan::nothing("nothing to contract: the value has been writable since expand"),
        ];
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl AddEnumValue {
    fn type_q(&self) -> String {
        qualified(self.schema.as_deref().map(String::as_str), &self.name)
    }

    /// The declared neighbour: `("BEFORE", value)` or `("AFTER", value)`.
    fn neighbour(&self) -> Option<(&'static str, &str)> {
        match (&self.before, &self.after) {
            (Some(before), _) => Some(("BEFORE", before.as_str())),
            (None, Some(after)) => Some(("AFTER", after.as_str())),
            (None, None) => None,
        }
    }

    /// The enum type exists and has every label of `labels`, or the step refuses.
    fn has_labels(&self, labels: &[&str]) -> Step {
        let type_q = self.type_q();
        let type_l = quote_literal(&type_q);
        let wanted = labels.iter().map(|label| quote_literal(label)).collect::<Vec<_>>().join(", ");
        let problems = format!(
            "SELECT format('no enum type %s', {type_l}) WHERE NOT EXISTS (SELECT FROM pg_type \
             WHERE oid = to_regtype({type_l}) AND typtype = 'e') \
             UNION ALL SELECT format('no value %L in the enum type %s', label, {type_l}) \
             FROM unnest(ARRAY[{wanted}]::text[]) AS zdm_label(label) WHERE NOT EXISTS (SELECT FROM pg_enum \
             WHERE enumtypid = to_regtype({type_l}) AND enumlabel = zdm_label.label)"
        );
        Step::check(
            if labels.is_empty() {
                format!("check that the enum type {type_q} exists")
            } else {
                format!("check that the enum type {type_q} exists, with {wanted}")
            },
            Lock::None,
            None,
            Check::new(
                format!("an enum type {type_q} with the value(s) {wanted}"),
                format!("SELECT count(*) FROM ({problems}) AS zdm_missing"),
                problems,
            ),
        )
    }

    /// Counts the rows holding the value, in every column of the type, and names the
    /// columns. The columns are found in the catalog, so each is counted by a query of its
    /// own that `query_to_xml` runs: a check is one statement and does no PL/pgSQL. The
    /// column is compared as text: an expand interrupted before its `ADD VALUE` leaves a
    /// value the type does not know, which as an enum literal would be an error.
    fn value_unused(&self) -> Step {
        let type_q = self.type_q();
        let type_l = quote_literal(&type_q);
        let value_l = quote_literal(&self.value);
        let per_column = format!(
            "SELECT format('%s.%I', c.oid::regclass, a.attname) AS zdm_column, \
             (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %s WHERE %I::text = %L', \
             c.oid::regclass, a.attname, {value_l}), false, true, '')))[1]::text::bigint AS zdm_rows \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE a.atttypid = to_regtype({type_l}) AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r'"
        );
        Step::check(
            format!(
                "check that no row holds {value_l}, then leave it in {type_q}, unused: PostgreSQL cannot drop \
                 an enum value"
            ),
            Lock::None,
            None,
            Check::new(
                format!("no row holds {value_l} of {type_q}, which PostgreSQL cannot drop from the type"),
                format!("SELECT coalesce(sum(zdm_rows), 0)::bigint FROM ({per_column}) AS zdm_use"),
                format!(
                    "SELECT format('%s holds it in %s row(s)', zdm_column, zdm_rows) FROM ({per_column}) AS zdm_use \
                     WHERE zdm_rows > 0 ORDER BY zdm_column LIMIT 5"
                ),
            ),
        )
    }

    fn expand(&self) -> PhasePlan {
        let type_q = self.type_q();
        let value_l = quote_literal(&self.value);
        let (place, labels) = match self.neighbour() {
            Some((word, neighbour)) => (format!(" {word} {}", quote_literal(neighbour)), vec![neighbour]),
            None => (String::new(), vec![]),
        };
        let mut forward = vec![self.has_labels(&labels)];
        forward.push(type_step(
            format!("add {value_l} to {type_q}"),
            format!("ALTER TYPE {type_q} ADD VALUE IF NOT EXISTS {value_l}{place}"),
        ));
        let reverse = vec![self.value_unused()];
        PhasePlan::new(
            format!(
                "add {value_l} to the enum type {type_q}; it is usable once expand has committed, so the new \
                 version may write it from the end of expand on, and the old version never does"
            ),
            forward,
            reverse,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> AddEnumValue {
        crate::testing::parse(tokens)
    }

    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        crate::testing::messages(|errors| parse(tokens).validate(errors))
    }

    #[test]
    fn before_and_after_exclude_each_other_and_name_another_value() {
        assert!(messages(quote!(name = "mood", value = "happy", after = "ok")).is_empty());
        assert_eq!(
            messages(quote!(name = "mood", value = "happy", before = "sad", after = "happy")),
            [
                "`after` names the value being added; name the existing value it goes after",
                "`before` and `after` exclude each other: PostgreSQL places a new value by one neighbour",
            ]
        );
    }

    #[test]
    fn expand_adds_the_value_by_its_neighbour() {
        let plan = parse(quote!(name = "mood", value = "it's", before = "ok")).plan("m", "");
        let expand = plan.phase(zdm_plan::Phase::Expand);
        assert_eq!(
            expand.forward[1].statements(),
            ["ALTER TYPE \"mood\" ADD VALUE IF NOT EXISTS 'it''s' BEFORE 'ok'"]
        );
        assert_eq!(expand.reverse.len(), 1);
    }
}
