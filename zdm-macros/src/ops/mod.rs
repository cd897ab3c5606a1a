//! The operations the attribute declares and the registry that lists them. Each operation
//! is a file of its own (its darling arguments, its validation rules, the plan it builds)
//! implementing [`Operation`]; `steps` and `column_swap` hold what several of them share.
//!
//! The registry below is the one place an operation is named: its line declares the module,
//! makes its key an argument of the attribute, lists it in messages and dispatches to it.

#[macro_use]
mod registry;

pub mod catalog_rename;
pub mod column_swap;
pub mod footprint;
pub mod recorded;
pub mod steps;

use crate::relations::Relations;
use crate::validate::Errors;
use footprint::Footprint;
use zdm_plan::Plan;

/// One kind of schema change, as the attribute's key of the same name declares it.
pub trait Operation {
    /// What the declaration reads and creates, for `after(...)`.
    fn relations(&self) -> Relations;

    /// Pushes every mistake of the declaration, each at its token.
    fn validate(&self, errors: &mut Errors);

    /// The plan, built once [`Operation::validate`] found nothing.
    fn plan(&self, id: &str, description: &str) -> Plan;

    /// What it does to the names it touches, to check it against the other operations of
    /// its declaration. By default what its relations say: it reads what it uses and
    /// creates what it provides.
    fn footprint(&self) -> Footprint {
        Footprint::of(self.relations())
    }

    /// Pushes what the operation must also say when it is one of several in a declaration
    /// (`sql`: the lock it takes); nothing for most.
    fn validate_among_several(&self, _errors: &mut Errors) {}
}

// In alphabetical order: messages list the operations in the order of these lines.
registry! {
    add_check: AddCheck,
    add_column: AddColumn,
    add_enum_value: AddEnumValue,
    add_foreign_key: AddForeignKey,
    add_index: AddIndex,
    add_not_null: AddNotNull,
    add_primary_key: AddPrimaryKey,
    add_unique: AddUnique,
    change_type: ChangeType,
    create_enum: CreateEnum,
    create_table: CreateTable,
    drop_column: DropColumn,
    drop_constraint: DropConstraint,
    drop_default: DropDefault,
    drop_index: DropIndex,
    drop_not_null: DropNotNull,
    drop_table: DropTable,
    rename_column: RenameColumn,
    rename_constraint: RenameConstraint,
    rename_index: RenameIndex,
    rename_table: RenameTable,
    set_default: SetDefault,
    set_replica_identity: SetReplicaIdentity,
    split_table: SplitTable,
    sql: Sql,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_registry_is_in_alphabetical_order() {
        let mut sorted = super::OPERATIONS.to_vec();
        sorted.sort_unstable();
        assert_eq!(super::OPERATIONS, sorted);
    }

    #[test]
    fn every_operation_lists_its_keys() {
        assert_eq!(super::check_keys(), Vec::<String>::new());
    }
}
