//! The macro behind the registry in `ops/mod.rs`: from one `key: Type` line per operation
//! it writes everything that must name every operation, so none of it can forget one.

/// For each `module: Type`, in order: the module `ops/module.rs`, `Type::NAME` (the key as
/// the user writes it), the key's place in [`OPERATIONS`] and in the attribute's darling
/// arguments, and the dispatch from those arguments to the operations given.
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
        /// the operations, each kind as often as it is written; [`Args::written`] gives
        /// them back in the order they were written.
        #[derive(Debug, darling::FromMeta)]
        pub struct Args {
            pub id: darling::util::SpannedValue<String>,
            /// Declarations that must run before this one, each creating a table or column
            /// it uses.
            pub after: Option<darling::util::PathList>,
            $(#[darling(multiple)] pub $module: Vec<$module::$operation>,)*
        }

        /// The keys an operation takes, as written, if `operation` is one.
        pub fn keys(operation: &str) -> Option<&'static [&'static str]> {
            $(if operation == stringify!($module) {
                return Some($module::$operation::KEYS);
            })*
            None
        }

        /// Checks each operation's `KEYS` against its darling arguments: every key is one
        /// darling knows, and none darling requires is left out.
        #[cfg(test)]
        pub fn check_keys() -> Vec<String> {
            let mut problems = Vec::new();
            $(
                let words = $module::$operation::KEYS.iter().map(|key| {
                    let key = syn::Ident::new(key, proc_macro2::Span::call_site());
                    darling::ast::NestedMeta::Meta(syn::Meta::Path(syn::Path::from(key)))
                });
                if let Err(error) = <$module::$operation as darling::FromMeta>::from_list(&words.collect::<Vec<_>>()) {
                    problems.extend(
                        error
                            .flatten()
                            .into_iter()
                            .map(|error| format!("{}: {error}", stringify!($module)))
                            .filter(|text| text.contains("Unknown field") || text.contains("Missing field")),
                    );
                }
            )*
            problems
        }

        impl Args {
            /// The `nth` operation of kind `name` (0 for the first `add_column(…)`), if the
            /// declaration wrote that many.
            pub fn written(&self, name: &str, nth: usize) -> Option<(&'static str, &dyn Operation)> {
                $(if name == stringify!($module) {
                    return self.$module.get(nth).map(|operation| (stringify!($module), operation as &dyn Operation));
                })*
                None
            }
        }
    };
}
