//! The plan types as Rust tokens, for the macro: it builds a [`Plan`] with owned text and
//! emits the same values as a `static` of borrowed text, through the runtime's private,
//! version-stamped module. One `ToTokens` per type, next to the type it prints, so a new
//! field fails to compile here until it is emitted.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, ToTokens};

use crate::{
    Action, Backfill, Carry, CarryTarget, CarryWork, Check, Expectation, List, Lock, PhasePlan, Plan,
    Presented, PresentedColumn, Split, SplitOperation, SplitTarget, Step, Text,
};

/// The path of the runtime's module for generated code: `::zdm_runtime::__private_0_1_0`.
/// The crates are pinned to one version, and the stamp makes a mismatch a clear "no
/// `__private_…` in `zdm_runtime`" instead of a type error deep inside a plan.
pub fn private_path() -> TokenStream {
    private_path_at(Span::call_site())
}

/// [`private_path`] with every token at `span`: rustc reports a failed `const` item at its
/// first token, so a check about one name must start at that name.
pub fn private_path_at(span: Span) -> TokenStream {
    let stamp = Ident::new(&private_module(), span);
    quote::quote_spanned!(span=> ::zdm_runtime::#stamp)
}

/// The name of that module, from this crate's version.
fn private_module() -> String {
    format!(
        "__private_{}",
        env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_")
    )
}

fn text(value: &Text) -> TokenStream {
    let private = private_path();
    let value: &str = value;
    quote!(#private::Cow::Borrowed(#value))
}

fn optional(value: &Option<Text>) -> TokenStream {
    let private = private_path();
    match value {
        Some(value) => {
            let value = text(value);
            quote!(#private::Some(#value))
        }
        None => quote!(#private::None),
    }
}

fn texts(values: &List<Text>) -> TokenStream {
    let private = private_path();
    let values = values.iter().map(text);
    quote!(#private::Cow::Borrowed(&[#(#values),*]))
}

fn list<T: ToTokens + Clone>(values: &List<T>) -> TokenStream {
    let private = private_path();
    let values = values.iter();
    quote!(#private::Cow::Borrowed(&[#(#values),*]))
}

impl ToTokens for Lock {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let variant = Ident::new(&format!("{self:?}"), Span::call_site());
        tokens.extend(quote!(#private::Lock::#variant));
    }
}

impl ToTokens for SplitOperation {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let variant = Ident::new(&format!("{self:?}"), Span::call_site());
        tokens.extend(quote!(#private::SplitOperation::#variant));
    }
}

impl ToTokens for CarryTarget {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let variant = Ident::new(&format!("{self:?}"), Span::call_site());
        tokens.extend(quote!(#private::CarryTarget::#variant));
    }
}

impl ToTokens for Expectation {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let variant = quote!(#private::Expectation);
        tokens.extend(match self {
            Expectation::TableExists { table } => {
                let table = text(table);
                quote!(#variant::TableExists { table: #table })
            }
            Expectation::TableAbsent { table } => {
                let table = text(table);
                quote!(#variant::TableAbsent { table: #table })
            }
            Expectation::ColumnExists { table, column, ty } => {
                let (table, column, ty) = (text(table), text(column), optional(ty));
                quote!(#variant::ColumnExists { table: #table, column: #column, ty: #ty })
            }
            Expectation::ColumnAbsent { table, column } => {
                let (table, column) = (text(table), text(column));
                quote!(#variant::ColumnAbsent { table: #table, column: #column })
            }
            Expectation::IndexAbsentOrSame {
                table,
                index,
                unique,
                definition,
            } => {
                let (table, index, definition) = (text(table), text(index), text(definition));
                quote!(#variant::IndexAbsentOrSame { table: #table, index: #index, unique: #unique, definition: #definition })
            }
            Expectation::ViewOfTableOrAbsent { view, table } => {
                let (view, table) = (text(view), text(table));
                quote!(#variant::ViewOfTableOrAbsent { view: #view, table: #table })
            }
            Expectation::ColumnNullable { table, column } => {
                let (table, column) = (text(table), text(column));
                quote!(#variant::ColumnNullable { table: #table, column: #column })
            }
            Expectation::ConstraintAbsent { table, constraint } => {
                let (table, constraint) = (text(table), text(constraint));
                quote!(#variant::ConstraintAbsent { table: #table, constraint: #constraint })
            }
            Expectation::ForeignKeyTarget {
                table,
                column,
                ty,
                references,
                referenced_column,
            } => {
                let (table, column, ty) = (text(table), text(column), optional(ty));
                let (references, referenced_column) = (text(references), text(referenced_column));
                quote!(#variant::ForeignKeyTarget {
                    table: #table,
                    column: #column,
                    ty: #ty,
                    references: #references,
                    referenced_column: #referenced_column,
                })
            }
            Expectation::FragmentReads {
                table,
                key,
                columns,
                functions,
            } => {
                let (table, key) = (text(table), text(key));
                let (columns, functions) = (texts(columns), texts(functions));
                quote!(#variant::FragmentReads { table: #table, key: #key, columns: #columns, functions: #functions })
            }
        });
    }
}

impl ToTokens for Backfill {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (table, statements) = (text(&self.table), texts(&self.statements));
        let writes_filled = self.writes_filled;
        tokens.extend(quote!(
            #private::Backfill { table: #table, statements: #statements, writes_filled: #writes_filled }
        ));
    }
}

impl ToTokens for Check {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let expectation = text(&self.expectation);
        let (count_sql, sample_sql) = (text(&self.count_sql), text(&self.sample_sql));
        tokens.extend(quote!(#private::Check { expectation: #expectation, count_sql: #count_sql, sample_sql: #sample_sql }));
    }
}

impl ToTokens for Action {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let variant = quote!(#private::Action);
        tokens.extend(match self {
            Action::Transaction(statements) => {
                let statements = texts(statements);
                quote!(#variant::Transaction(#statements))
            }
            Action::CreateIndexConcurrently { index, sql } => {
                let (index, sql) = (text(index), text(sql));
                quote!(#variant::CreateIndexConcurrently { index: #index, sql: #sql })
            }
            Action::CreateIndexConcurrentlyFromQuery { index, query } => {
                let (index, query) = (text(index), text(query));
                quote!(#variant::CreateIndexConcurrentlyFromQuery { index: #index, query: #query })
            }
            Action::DropIndexConcurrently { index, sql } => {
                let (index, sql) = (text(index), text(sql));
                quote!(#variant::DropIndexConcurrently { index: #index, sql: #sql })
            }
            Action::Backfill(backfill) => quote!(#variant::Backfill(#backfill)),
            Action::Check(check) => quote!(#variant::Check(#check)),
            Action::Expect(expectation) => quote!(#variant::Expect(#expectation)),
            Action::Split(split) => quote!(#variant::Split(#split)),
            Action::Carry(carry) => quote!(#variant::Carry(#carry)),
        });
    }
}

impl ToTokens for SplitTarget {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (table, columns) = (text(&self.table), texts(&self.columns));
        tokens.extend(quote!(#private::SplitTarget { table: #table, columns: #columns }));
    }
}

impl ToTokens for Split {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let operation = self.operation;
        let (schema, source, key, targets) = (
            optional(&self.schema),
            text(&self.source),
            texts(&self.key),
            list(&self.targets),
        );
        let (statements, preview) = (texts(&self.statements), texts(&self.preview));
        tokens.extend(quote! {
            #private::Split {
                operation: #operation,
                schema: #schema,
                source: #source,
                key: #key,
                targets: #targets,
                statements: #statements,
                preview: #preview,
            }
        });
    }
}

impl ToTokens for Carry {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (table, column, new_column) = (text(&self.table), text(&self.column), text(&self.new_column));
        let (work, shape) = (&self.work, text(&self.shape));
        tokens.extend(quote! {
            #private::Carry { table: #table, column: #column, new_column: #new_column, work: #work, shape: #shape }
        });
    }
}

impl ToTokens for CarryWork {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let work = quote!(#private::CarryWork);
        tokens.extend(match self {
            CarryWork::Inspect {
                ty,
                default,
                converts,
                up,
                down,
                triggers_checked,
            } => {
                let (ty, default, up, down) = (optional(ty), optional(default), optional(up), optional(down));
                quote!(#work::Inspect {
                    ty: #ty, default: #default, converts: #converts, up: #up, down: #down,
                    triggers_checked: #triggers_checked
                })
            }
            CarryWork::CheckConvertible { conversion, scan } => {
                let (conversion, scan) = (text(conversion), text(scan));
                quote!(#work::CheckConvertible { conversion: #conversion, scan: #scan })
            }
            CarryWork::AddColumn => quote!(#work::AddColumn),
            CarryWork::DropColumn => quote!(#work::DropColumn),
            CarryWork::AlterInPlace => quote!(#work::AlterInPlace),
            CarryWork::RestoreInPlace => quote!(#work::RestoreInPlace),
            CarryWork::Transaction(statements) => {
                let statements = texts(statements);
                quote!(#work::Transaction(#statements))
            }
            CarryWork::Backfill { statements, refill } => {
                let statements = texts(statements);
                quote!(#work::Backfill { statements: #statements, refill: #refill })
            }
            CarryWork::BuildIndexes(target) => quote!(#work::BuildIndexes(#target)),
            CarryWork::DropIndexes => quote!(#work::DropIndexes),
            CarryWork::CheckNulls(target) => quote!(#work::CheckNulls(#target)),
            CarryWork::AddConstraints(target) => quote!(#work::AddConstraints(#target)),
            CarryWork::ValidateConstraints(target) => quote!(#work::ValidateConstraints(#target)),
            CarryWork::SetNotNull(target) => quote!(#work::SetNotNull(#target)),
            CarryWork::Swap { statements, rename } => {
                let statements = texts(statements);
                quote!(#work::Swap { statements: #statements, rename: #rename })
            }
            CarryWork::Unswap { statements, rename } => {
                let statements = texts(statements);
                quote!(#work::Unswap { statements: #statements, rename: #rename })
            }
            CarryWork::Forget => quote!(#work::Forget),
        });
    }
}

impl ToTokens for Step {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (description, lock) = (text(&self.description), self.lock);
        let (table, action) = (optional(&self.table), &self.action);
        tokens.extend(quote! {
            #private::Step { description: #description, lock: #lock, table: #table, action: #action }
        });
    }
}

impl ToTokens for PhasePlan {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (summary, forward, reverse) = (text(&self.summary), list(&self.forward), list(&self.reverse));
        let reverse_discards = optional(&self.reverse_discards);
        tokens.extend(quote! {
            #private::PhasePlan {
                summary: #summary,
                forward: #forward,
                reverse: #reverse,
                reverse_discards: #reverse_discards,
            }
        });
    }
}

impl ToTokens for Plan {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (id, operation, description) = (text(&self.id), text(&self.operation), text(&self.description));
        let phases = self.phases.iter();
        let purge = list(&self.purge);
        let presents = list(&self.presents);
        tokens.extend(quote! {
            #private::Plan {
                id: #id,
                operation: #operation,
                description: #description,
                phases: [#(#phases),*],
                presents: #presents,
                purge: #purge,
            }
        });
    }
}

impl ToTokens for Presented {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (table, columns, hidden) = (text(&self.table), list(&self.columns), texts(&self.hidden));
        tokens.extend(quote!(#private::Presented { table: #table, columns: #columns, hidden: #hidden }));
    }
}

impl ToTokens for PresentedColumn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let private = private_path();
        let (name, instead_of, source) = (text(&self.name), text(&self.instead_of), text(&self.source));
        tokens.extend(
            quote!(#private::PresentedColumn { name: #name, instead_of: #instead_of, source: #source }),
        );
    }
}
