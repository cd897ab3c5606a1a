//! What `rename_index` and `rename_constraint` share: their keys, their checks, and the
//! shape of their plans (checks at expand, the rename at contract, nothing in between).

use darling::util::SpannedValue;
use darling::FromMeta;

use crate::relations::{self, Relations};
use crate::table::Table;
use crate::validate::{self, Errors};
use zdm_plan::{PhasePlan, Plan};

/// The arguments of a rename of something a table has: the table and both names.
#[derive(Debug, FromMeta)]
pub struct CatalogRename {
    pub schema: Option<SpannedValue<String>>,
    pub table: SpannedValue<String>,
    pub from: SpannedValue<String>,
    pub to: SpannedValue<String>,
}

impl CatalogRename {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["schema", "table", "from", "to"];

    pub fn table(&self) -> Table {
        Table::declared(&self.schema, &self.table)
    }

    pub fn relations(&self) -> Relations {
        Relations {
            uses: vec![relations::table(&self.table())],
            provides: Vec::new(),
        }
    }

    /// Checks the names; `whose` says what is renamed in the message about an unchanged
    /// name (`index's`, `constraint's`).
    pub fn validate(&self, errors: &mut Errors, whose: &str) {
        validate::schema(errors, "schema", &self.schema);
        validate::table(errors, "table", &self.table);
        validate::identifier(errors, "from", &self.from);
        validate::identifier(errors, "to", &self.to);
        if *self.from == *self.to {
            validate::push(
                errors,
                self.to.span(),
                format_args!(
                    "`to` is the {whose} current name (`from` is \"{}\" too); give the name it should have after the rename",
                    *self.from
                ),
            );
        }
    }

    /// The plan: `expand` and `contract`, and nothing to sync or backfill, since a name
    /// (`not_data` says whose) is not data.
    pub fn plan(
        &self,
        (id, operation, description): (&str, &str, &str),
        not_data: &str,
        expand: PhasePlan,
        contract: PhasePlan,
    ) -> Plan {
        let phases = [
            expand,
            PhasePlan::nothing(format!("nothing to sync: {not_data} is not data")),
            PhasePlan::nothing(format!("nothing to backfill: {not_data} is not data")),
            contract,
        ];
        Plan::new(id, operation, description, phases)
    }
}

/// An operation whose arguments are a [`CatalogRename`] reads them as its own fields.
macro_rules! catalog_rename {
    ($operation:ident) => {
        #[derive(Debug, darling::FromMeta)]
        pub struct $operation {
            #[darling(flatten)]
            rename: crate::ops::catalog_rename::CatalogRename,
        }

        impl $operation {
            pub const KEYS: &'static [&'static str] = crate::ops::catalog_rename::CatalogRename::KEYS;
        }

        impl std::ops::Deref for $operation {
            type Target = crate::ops::catalog_rename::CatalogRename;

            fn deref(&self) -> &Self::Target {
                &self.rename
            }
        }
    };
}

pub(crate) use catalog_rename;
