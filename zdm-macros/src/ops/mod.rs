//! One module per operation: its darling arguments, its validation rules and the plan it
//! generates. `steps` holds the step builders several operations share.

pub mod add_column;
pub mod change_type;
pub mod column_swap;
pub mod rename_column;
pub mod steps;
