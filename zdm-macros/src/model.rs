//! The plan as the macro builds it: plain Rust values an operation fills in, each of
//! which renders itself as the runtime's `static` plan data.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// Mirrors `zdm_runtime::Lock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    None,
    AccessShare,
    RowExclusive,
    ShareUpdateExclusive,
    ShareRowExclusive,
    AccessExclusive,
}

/// Mirrors `zdm_runtime::Expectation`; tables quoted, columns as declared.
#[allow(dead_code)] // TODO(before landing): used once the other operations land
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    TableExists {
        table: String,
    },
    TableAbsent {
        table: String,
    },
    ColumnExists {
        table: String,
        column: String,
        ty: Option<String>,
    },
    ColumnAbsent {
        table: String,
        column: String,
    },
}

/// Mirrors `zdm_runtime::Action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Transaction(Vec<String>),
    CreateIndexConcurrently {
        index: String,
        sql: String,
    },
    DropIndexConcurrently {
        index: String,
        sql: String,
    },
    Backfill {
        table: String,
        statements: Vec<String>,
    },
    Check {
        expectation: String,
        count_sql: String,
        sample_sql: String,
    },
    Expect(Expectation),
    Carry(Carry),
}

/// Mirrors `zdm_runtime::Carry`: table quoted, columns as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carry {
    pub table: String,
    pub column: String,
    pub new_column: String,
    pub work: CarryWork,
    pub shape: String,
}

/// Mirrors `zdm_runtime::CarryTarget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarryTarget {
    New,
    Original,
}

/// Mirrors `zdm_runtime::CarryWork`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CarryWork {
    Inspect {
        ty: Option<String>,
        default: Option<String>,
        converts: bool,
        up: Option<String>,
        down: Option<String>,
    },
    CheckConvertible {
        conversion: String,
    },
    AddColumn,
    DropColumn,
    AlterInPlace,
    RestoreInPlace,
    Transaction(Vec<String>),
    Backfill {
        statements: Vec<String>,
        refill: bool,
    },
    BuildIndexes(CarryTarget),
    DropIndexes,
    CheckNulls(CarryTarget),
    AddConstraints(CarryTarget),
    ValidateConstraints(CarryTarget),
    SetNotNull(CarryTarget),
    Swap {
        statements: Vec<String>,
        rename: bool,
    },
    Unswap {
        statements: Vec<String>,
        rename: bool,
    },
    Forget,
}

/// Mirrors `zdm_runtime::Step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub description: String,
    pub lock: Lock,
    pub table: Option<String>,
    pub action: Action,
}

impl Step {
    /// Statements run in one short transaction.
    pub fn transaction(
        description: impl Into<String>,
        lock: Lock,
        table: &str,
        statements: Vec<String>,
    ) -> Step {
        Step {
            description: description.into(),
            lock,
            table: Some(table.to_owned()),
            action: Action::Transaction(statements),
        }
    }

    /// A check of the live schema, which takes no lock.
    pub fn expect(expectation: Expectation) -> Step {
        let description = match &expectation {
            Expectation::TableExists { table } => format!("check that table {table} exists"),
            Expectation::TableAbsent { table } => format!("check that no relation {table} exists"),
            Expectation::ColumnExists { table, column, .. } => {
                format!(
                    "check that column {table}.{} exists",
                    crate::sql::quote_ident(column)
                )
            }
            Expectation::ColumnAbsent { table, column } => {
                format!(
                    "check that column {table}.{} does not exist",
                    crate::sql::quote_ident(column)
                )
            }
        };
        Step {
            description,
            lock: Lock::None,
            table: None,
            action: Action::Expect(expectation),
        }
    }
}

/// Mirrors `zdm_runtime::PhasePlan`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhasePlan {
    pub summary: String,
    pub forward: Vec<Step>,
    pub reverse: Vec<Step>,
}

/// Mirrors `zdm_runtime::Plan`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub operation: String,
    pub description: String,
    pub expand: PhasePlan,
    pub sync: PhasePlan,
    pub backfill: PhasePlan,
    pub contract: PhasePlan,
}

fn private() -> TokenStream {
    quote!(::zdm_runtime::__private)
}

impl ToTokens for Lock {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let variant = match self {
            Lock::None => quote!(None),
            Lock::AccessShare => quote!(AccessShare),
            Lock::RowExclusive => quote!(RowExclusive),
            Lock::ShareUpdateExclusive => quote!(ShareUpdateExclusive),
            Lock::ShareRowExclusive => quote!(ShareRowExclusive),
            Lock::AccessExclusive => quote!(AccessExclusive),
        };
        tokens.extend(quote!(#private::Lock::#variant));
    }
}

/// `Option<&'static str>` as tokens.
struct OptionalStr<'a>(Option<&'a str>);

impl ToTokens for OptionalStr<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        tokens.extend(match self.0 {
            Some(text) => quote!(#private::Some(#text)),
            None => quote!(#private::None),
        });
    }
}

impl ToTokens for Expectation {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        tokens.extend(match self {
            Expectation::TableExists { table } => {
                quote!(#private::Expectation::TableExists { table: #table })
            }
            Expectation::TableAbsent { table } => {
                quote!(#private::Expectation::TableAbsent { table: #table })
            }
            Expectation::ColumnExists { table, column, ty } => {
                let ty = OptionalStr(ty.as_deref());
                quote!(#private::Expectation::ColumnExists { table: #table, column: #column, ty: #ty })
            }
            Expectation::ColumnAbsent { table, column } => {
                quote!(#private::Expectation::ColumnAbsent { table: #table, column: #column })
            }
        });
    }
}

impl ToTokens for Action {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        tokens.extend(match self {
            Action::Transaction(statements) => quote!(#private::Action::Transaction(&[#(#statements),*])),
            Action::CreateIndexConcurrently { index, sql } => {
                quote!(#private::Action::CreateIndexConcurrently { index: #index, sql: #sql })
            }
            Action::DropIndexConcurrently { index, sql } => {
                quote!(#private::Action::DropIndexConcurrently { index: #index, sql: #sql })
            }
            Action::Backfill { table, statements } => quote! {
                #private::Action::Backfill(#private::Backfill { table: #table, statements: &[#(#statements),*] })
            },
            Action::Check { expectation, count_sql, sample_sql } => quote! {
                #private::Action::Check(#private::Check {
                    expectation: #expectation,
                    count_sql: #count_sql,
                    sample_sql: #sample_sql,
                })
            },
            Action::Expect(expectation) => quote!(#private::Action::Expect(#expectation)),
            Action::Carry(carry) => quote!(#private::Action::Carry(#carry)),
        });
    }
}

impl ToTokens for Carry {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let Carry {
            table,
            column,
            new_column,
            work,
            shape,
        } = self;
        tokens.extend(quote! {
            #private::Carry { table: #table, column: #column, new_column: #new_column, work: #work, shape: #shape }
        });
    }
}

impl ToTokens for CarryTarget {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        tokens.extend(match self {
            CarryTarget::New => quote!(#private::CarryTarget::New),
            CarryTarget::Original => quote!(#private::CarryTarget::Original),
        });
    }
}

impl ToTokens for CarryWork {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let work = quote!(#private::CarryWork);
        tokens.extend(match self {
            CarryWork::Inspect {
                ty,
                default,
                converts,
                up,
                down,
            } => {
                let (ty, default) = (OptionalStr(ty.as_deref()), OptionalStr(default.as_deref()));
                let (up, down) = (OptionalStr(up.as_deref()), OptionalStr(down.as_deref()));
                quote!(#work::Inspect { ty: #ty, default: #default, converts: #converts, up: #up, down: #down })
            }
            CarryWork::CheckConvertible { conversion } => quote!(#work::CheckConvertible { conversion: #conversion }),
            CarryWork::AddColumn => quote!(#work::AddColumn),
            CarryWork::DropColumn => quote!(#work::DropColumn),
            CarryWork::AlterInPlace => quote!(#work::AlterInPlace),
            CarryWork::RestoreInPlace => quote!(#work::RestoreInPlace),
            CarryWork::Transaction(statements) => quote!(#work::Transaction(&[#(#statements),*])),
            CarryWork::Backfill { statements, refill } => {
                quote!(#work::Backfill { statements: &[#(#statements),*], refill: #refill })
            }
            CarryWork::BuildIndexes(target) => quote!(#work::BuildIndexes(#target)),
            CarryWork::DropIndexes => quote!(#work::DropIndexes),
            CarryWork::CheckNulls(target) => quote!(#work::CheckNulls(#target)),
            CarryWork::AddConstraints(target) => quote!(#work::AddConstraints(#target)),
            CarryWork::ValidateConstraints(target) => quote!(#work::ValidateConstraints(#target)),
            CarryWork::SetNotNull(target) => quote!(#work::SetNotNull(#target)),
            CarryWork::Swap { statements, rename } => {
                quote!(#work::Swap { statements: &[#(#statements),*], rename: #rename })
            }
            CarryWork::Unswap { statements, rename } => {
                quote!(#work::Unswap { statements: &[#(#statements),*], rename: #rename })
            }
            CarryWork::Forget => quote!(#work::Forget),
        });
    }
}

impl ToTokens for Step {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let Step {
            description,
            lock,
            table,
            action,
        } = self;
        let table = OptionalStr(table.as_deref());
        tokens.extend(quote! {
            #private::Step { description: #description, lock: #lock, table: #table, action: #action }
        });
    }
}

impl ToTokens for PhasePlan {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let PhasePlan {
            summary,
            forward,
            reverse,
        } = self;
        tokens.extend(quote! {
            #private::PhasePlan { summary: #summary, forward: &[#(#forward),*], reverse: &[#(#reverse),*] }
        });
    }
}

impl ToTokens for Plan {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let Plan {
            id,
            operation,
            description,
            expand,
            sync,
            backfill,
            contract,
        } = self;
        tokens.extend(quote! {
            #private::Plan {
                id: #id,
                operation: #operation,
                description: #description,
                phases: [#expand, #sync, #backfill, #contract],
            }
        });
    }
}
