//! The attribute as a plain function over token streams, so the whole pipeline is
//! unit-testable and snapshot-testable without a compiler run.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;

use crate::args::{self, Args};
use crate::model::Plan;

/// Expands `#[zero_downtime(attr)] item`. On errors the item is re-emitted unchanged with
/// every error beside it, plus a placeholder impl, so the rest of the crate still
/// type-checks and only the declaration's own mistakes are reported.
pub fn zero_downtime(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[zero_downtime]` goes on a unit struct that names the migration, such as `pub struct AddEmailVerified;`",
            );
            let error = error.to_compile_error();
            return quote!(#item #error);
        }
    };
    match plan(attr, &item) {
        Ok(plan) => emit(&item, &plan),
        Err(errors) => {
            let errors = errors.write_errors();
            let ident = &item.ident;
            quote! {
                #item
                #errors
                const _: () = {
                    #[automatically_derived]
                    impl ::zdm_runtime::__private::Migration for #ident {
                        fn plan(&self) -> &'static ::zdm_runtime::__private::Plan {
                            ::core::unreachable!()
                        }
                    }
                };
            }
        }
    }
}

/// Parses and validates the declaration, then builds its plan.
pub fn plan(attr: TokenStream, item: &syn::ItemStruct) -> darling::Result<Plan> {
    let mut errors = darling::Error::accumulator();
    if !item.generics.params.is_empty() {
        errors.push(
            syn::Error::new(
                item.generics.span(),
                "a migration struct cannot be generic: its plan is one `static`",
            )
            .into(),
        );
    }
    let Some((args, items)) = errors.handle(Args::parse(attr)) else {
        errors.finish()?;
        unreachable!("handle returned None, so an error was pushed");
    };
    args::validate_id(&args.id, &mut errors);
    let operation = args.operation(&items, &mut errors);
    if let Some(operation) = &operation {
        operation.validate(&mut errors);
    }
    errors.finish()?;
    let operation = operation.expect("an operation was found, or errors.finish() returned");
    Ok(operation.plan(&args.id, &doc_comment(&item.attrs)))
}

/// The struct's doc comment, lines joined, for `plan` output.
fn doc_comment(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value().trim().to_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn emit(item: &syn::ItemStruct, plan: &Plan) -> TokenStream {
    let ident = &item.ident;
    let id = &plan.id;
    let plan = plan.to_token_stream();
    quote! {
        #item
        impl #ident {
            #[doc(hidden)]
            pub const __ZDM_ID: &'static str = #id;
        }
        const _: () = {
            #[automatically_derived]
            impl ::zdm_runtime::__private::Migration for #ident {
                fn plan(&self) -> &'static ::zdm_runtime::__private::Plan {
                    static PLAN: ::zdm_runtime::__private::Plan = #plan;
                    &PLAN
                }
            }
        };
    }
}
