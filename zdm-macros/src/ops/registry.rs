//! The macro behind the registry in `ops/mod.rs`: from one `key: Type` line per operation
//! it writes everything that must name every operation, so none of it can forget one.

/// For each `module: Type`, in order: the module `ops/module.rs`, `Type::NAME` (the key as
/// the user writes it), the key's place in [`OPERATIONS`] and in the attribute's darling
/// arguments, and the dispatch from those arguments to the one operation given.
macro_rules! registry {
    ($($module:ident: $operation:ident,)*) => {
        $(pub mod $module;)*

        /// The operations, as written in the attribute.
        pub const OPERATIONS: &[&str] = &[$(stringify!($module)),*];

        $(
            impl $module::$operation {
                /// The operation's key in the attribute, and its name in plans.
                pub const NAME: &'static str = stringify!($module);
            }
        )*

        /// The attribute's arguments as darling reads them: `id = "…"`, `after(...)` and
        /// the operations, of which the declaration gives exactly one.
        #[derive(Debug, darling::FromMeta)]
        pub struct Args {
            pub id: darling::util::SpannedValue<String>,
            /// Declarations that must run before this one, each creating a table or column
            /// it uses.
            pub after: Option<darling::util::PathList>,
            $(pub $module: Option<$module::$operation>,)*
        }

        impl Args {
            /// The first operation given, if any.
            pub fn first_operation(&self) -> Option<&dyn Operation> {
                None$(.or_else(|| self.$module.as_ref().map(|operation| operation as &dyn Operation)))*
            }
        }
    };
}
