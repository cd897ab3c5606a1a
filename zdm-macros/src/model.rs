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
    IndexAbsentOrSame {
        table: String,
        index: String,
        unique: bool,
        definition: String,
    },
    ViewOfTableOrAbsent {
        view: String,
        table: String,
    },
    ColumnNullable {
        table: String,
        column: String,
    },
    ConstraintAbsent {
        table: String,
        constraint: String,
    },
    ForeignKeyTarget {
        table: String,
        column: String,
        ty: Option<String>,
        references: String,
        referenced_column: String,
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
    Split(Split),
    Carry(Carry),
}

/// Mirrors `zdm_runtime::SplitOperation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitOperation {
    CreateTargets,
    DropSource,
    RestoreSource,
}

/// Mirrors `zdm_runtime::Split`; names unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub operation: SplitOperation,
    pub source: String,
    pub key: Vec<String>,
    /// `(table, columns)` of each new table.
    pub targets: Vec<(String, Vec<String>)>,
    pub statements: Vec<String>,
    pub preview: Vec<String>,
}

impl Action {
    /// The SQL the action runs, in order, as `zdm_runtime::Step::statements` lists it; checks
    /// show their count and sample queries, schema expectations a comment.
    #[cfg(test)]
    pub fn statements(&self) -> Vec<String> {
        match self {
            Action::Transaction(statements) | Action::Backfill { statements, .. } => statements.clone(),
            Action::CreateIndexConcurrently { sql, .. } | Action::DropIndexConcurrently { sql, .. } => {
                vec![sql.clone()]
            }
            Action::Check {
                count_sql,
                sample_sql,
                ..
            } => vec![count_sql.clone(), sample_sql.clone()],
            Action::Expect(expectation) => vec![format!("-- {expectation:?}")],
            Action::Split(split) => match split.operation {
                SplitOperation::DropSource => {
                    split.statements.iter().chain(&split.preview).cloned().collect()
                }
                _ => split.preview.iter().chain(&split.statements).cloned().collect(),
            },
            Action::Carry(carry) => {
                let mut statements = vec![carry.shape.clone()];
                match &carry.work {
                    CarryWork::Transaction(sql)
                    | CarryWork::Backfill { statements: sql, .. }
                    | CarryWork::Swap { statements: sql, .. }
                    | CarryWork::Unswap { statements: sql, .. } => statements.extend(sql.iter().cloned()),
                    _ => {}
                }
                statements
            }
        }
    }
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
            Expectation::IndexAbsentOrSame { table, index, .. } => format!(
                "check that index {} is absent or built on {table} as declared",
                crate::sql::quote_ident(index)
            ),
            Expectation::ViewOfTableOrAbsent { view, table } => {
                format!("check that {view} is still the view over {table}, or gone")
            }
            Expectation::ColumnNullable { table, column } => {
                format!(
                    "check that column {table}.{} exists and accepts NULLs",
                    crate::sql::quote_ident(column)
                )
            }
            Expectation::ConstraintAbsent { table, constraint } => {
                format!(
                    "check that {table} has no constraint {}",
                    crate::sql::quote_ident(constraint)
                )
            }
            Expectation::ForeignKeyTarget {
                references,
                referenced_column,
                ..
            } => format!(
                "check that {references}.{} exists, is unique and has a comparable type",
                crate::sql::quote_ident(referenced_column)
            ),
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
    /// What the reversal throws away, if anything; `None` when it loses no write.
    pub reverse_discards: Option<String>,
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
            Expectation::IndexAbsentOrSame {
                table,
                index,
                unique,
                definition,
            } => quote! {
                #private::Expectation::IndexAbsentOrSame {
                    table: #table,
                    index: #index,
                    unique: #unique,
                    definition: #definition,
                }
            },
            Expectation::ViewOfTableOrAbsent { view, table } => {
                quote!(#private::Expectation::ViewOfTableOrAbsent { view: #view, table: #table })
            }
            Expectation::ColumnNullable { table, column } => {
                quote!(#private::Expectation::ColumnNullable { table: #table, column: #column })
            }
            Expectation::ConstraintAbsent { table, constraint } => {
                quote!(#private::Expectation::ConstraintAbsent { table: #table, constraint: #constraint })
            }
            Expectation::ForeignKeyTarget {
                table,
                column,
                ty,
                references,
                referenced_column,
            } => {
                let ty = OptionalStr(ty.as_deref());
                quote!(#private::Expectation::ForeignKeyTarget {
                    table: #table,
                    column: #column,
                    ty: #ty,
                    references: #references,
                    referenced_column: #referenced_column,
                })
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
            Action::Split(split) => quote!(#private::Action::Split(#split)),
            Action::Carry(carry) => quote!(#private::Action::Carry(#carry)),
        });
    }
}

impl ToTokens for Split {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private();
        let operation = match self.operation {
            SplitOperation::CreateTargets => quote!(CreateTargets),
            SplitOperation::DropSource => quote!(DropSource),
            SplitOperation::RestoreSource => quote!(RestoreSource),
        };
        let Split {
            source,
            key,
            targets,
            statements,
            preview,
            ..
        } = self;
        let targets = targets.iter().map(
            |(table, columns)| quote!(#private::SplitTarget { table: #table, columns: &[#(#columns),*] }),
        );
        tokens.extend(quote! {
            #private::Split {
                operation: #private::SplitOperation::#operation,
                source: #source,
                key: &[#(#key),*],
                targets: &[#(#targets),*],
                statements: &[#(#statements),*],
                preview: &[#(#preview),*],
            }
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
            reverse_discards,
        } = self;
        let reverse_discards = OptionalStr(reverse_discards.as_deref());
        tokens.extend(quote! {
            #private::PhasePlan {
                summary: #summary,
                forward: &[#(#forward),*],
                reverse: &[#(#reverse),*],
                reverse_discards: #reverse_discards,
            }
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
