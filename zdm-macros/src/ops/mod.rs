//! One module per operation: its darling arguments, its validation rules and the plan it
//! generates. `steps` holds the step builders several operations share.

pub mod add_column;
pub mod add_foreign_key;
pub mod add_index;
pub mod add_not_null;
pub mod change_type;
pub mod column_swap;
pub mod rename_column;
pub mod rename_table;
pub mod split_table;
pub mod steps;
