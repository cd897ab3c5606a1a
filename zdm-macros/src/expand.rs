//! The attribute as a plain function over token streams, so the whole pipeline is
//! unit-testable and snapshot-testable without a compiler run.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::args::{self, Args};
use crate::compose::{self, Written};
use crate::relations::Relations;
use zdm_plan::Plan;

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
    match declaration(attr, &item) {
        Ok(declaration) => emit(&item, &declaration),
        Err(errors) => {
            let errors = errors.write_errors();
            let ident = &item.ident;
            let private = zdm_plan::private_path();
            quote! {
                #item
                #errors
                const _: () = {
                    #[automatically_derived]
                    impl #private::Migration for #ident {
                        fn plan(&self) -> &'static #private::Plan {
                            ::core::unreachable!()
                        }
                    }
                };
            }
        }
    }
}

/// A validated declaration: its plan, and what relates it to other declarations.
pub struct Declaration {
    pub plan: Plan,
    pub relations: Relations,
    /// The declarations named in `after(...)`.
    pub after: Vec<syn::Path>,
}

/// Parses and validates the declaration, then builds its plan.
pub fn declaration(attr: TokenStream, item: &syn::ItemStruct) -> darling::Result<Declaration> {
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
    if !matches!(item.fields, syn::Fields::Unit) {
        // At the attribute (the call site), where the fix is read: the struct only names
        // the migration, its plan is generated.
        errors.push(
            syn::Error::new(
                Span::call_site(),
                "`#[zero_downtime]` goes on a unit struct that names the migration, such as `pub struct AddEmailVerified;`: \
                 this one has fields",
            )
            .into(),
        );
    }
    let Some((args, items)) = errors.handle(Args::parse(attr)) else {
        errors.finish()?;
        unreachable!("handle returned None, so an error was pushed");
    };
    args::validate_id(&args.id, &mut errors);
    let after: Vec<syn::Path> = args
        .after
        .as_ref()
        .map(|paths| paths.to_vec())
        .unwrap_or_default();
    for path in &after {
        if path.is_ident(&item.ident) {
            errors.push(syn::Error::new(path.span(), "a declaration cannot run after itself").into());
        }
    }
    let written = args.operations(&items, &mut errors);
    for operation in &written {
        operation.operation.validate(&mut errors);
        if written.len() > 1 {
            operation.operation.validate_among_several(&mut errors);
        }
    }
    errors = errors.checkpoint()?;
    let description = doc_comment(&item.attrs);
    let plans: Vec<Plan> = written
        .iter()
        .enumerate()
        .map(|(position, operation)| {
            let id = compose::operation_id(&args.id, position);
            operation.operation.plan(&id, &description)
        })
        .collect();
    compose::check(&written, &plans, &mut errors);
    errors.finish()?;
    Ok(Declaration {
        plan: Plan::combined(&args.id, &description, plans),
        relations: relations(&written),
        after,
    })
}

/// What the declaration reads and creates as a whole: a name one operation creates is not
/// needed from an earlier declaration by the ones after it.
fn relations(written: &[Written<'_>]) -> Relations {
    if let [one] = written {
        return one.operation.relations();
    }
    let mut all = Relations::default();
    for operation in written {
        let relations = operation.operation.relations();
        for name in relations.uses {
            if !all.provides.contains(&name) && !all.uses.contains(&name) {
                all.uses.push(name);
            }
        }
        all.provides.extend(relations.provides);
    }
    all
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

fn emit(item: &syn::ItemStruct, declaration: &Declaration) -> TokenStream {
    let ident = &item.ident;
    let private = zdm_plan::private_path();
    let id = &declaration.plan.id;
    let provides = &declaration.relations.provides;
    let uses = &declaration.relations.uses;
    let after = &declaration.after;
    // Spanned at each name in `after(...)`, so a wrong one is reported there.
    let after_checks = after.iter().map(|dependency| {
        // rustc reports a failed const at the call's first token, so the path starts there.
        let private = zdm_plan::private_path_at(dependency.span());
        quote_spanned! {dependency.span()=>
            const _: () = #private::assert_after_provides(
                <#dependency as #private::Declared>::PROVIDES,
                &[#(#uses),*],
            );
        }
    });
    let plan = declaration.plan.to_token_stream();
    let item = with_summary(item, &declaration.plan);
    let functions = phase_functions(&item, &declaration.plan);
    quote! {
        #item
        #functions
        const _: () = {
            #[automatically_derived]
            impl #private::Declared for #ident {
                const ID: &'static str = #id;
                const PROVIDES: &'static [&'static str] = &[#(#provides),*];
                const AFTER: &'static [&'static str] = &[#(<#after as #private::Declared>::ID),*];
            }
            #[automatically_derived]
            impl #private::Migration for #ident {
                fn plan(&self) -> &'static #private::Plan {
                    static PLAN: #private::Plan = #plan;
                    &PLAN
                }
            }
        };
        #(#after_checks)*
    }
}

/// The struct with the summary of its phases appended to the user's own doc comment, so
/// the declaration's rustdoc page is the reviewable plan.
fn with_summary(item: &syn::ItemStruct, plan: &Plan) -> syn::ItemStruct {
    let mut item = item.clone();
    let summary = plan.summary_markdown();
    if item.attrs.iter().any(|attr| attr.path().is_ident("doc")) {
        // A blank line, so the summary is a paragraph of its own and not the end of the
        // user's last sentence.
        item.attrs.push(syn::parse_quote!(#[doc = ""]));
    }
    item.attrs.push(syn::parse_quote!(#[doc = #summary]));
    item
}

/// One inherent associated function per phase and per reversal, each documented with what
/// it runs. Associated functions taking the runner (`AddEmailLower::expand(&mut runner)`)
/// rather than methods, so they read as the migration's phases and never shadow a method
/// of `Migration` or of a user's trait on a value; an inherent `fn expand` the user writes
/// on the same struct is a duplicate definition, which rustc reports at both.
fn phase_functions(item: &syn::ItemStruct, plan: &Plan) -> TokenStream {
    let ident = &item.ident;
    let vis = &item.vis;
    let private = zdm_plan::private_path();
    // In deploy order, then the reversals in the order they undo it, as rustdoc lists them.
    let forward = zdm_plan::Phase::ALL.into_iter().map(|phase| (phase, false));
    let reverse = zdm_plan::Phase::ALL.into_iter().rev().map(|phase| (phase, true));
    let functions = forward.chain(reverse).map(|(phase, revert)| {
        let variant = syn::Ident::new(
            match phase {
                zdm_plan::Phase::Expand => "Expand",
                zdm_plan::Phase::Sync => "Sync",
                zdm_plan::Phase::Backfill => "Backfill",
                zdm_plan::Phase::Contract => "Contract",
            },
            Span::call_site(),
        );
        let (name, doc, call) = if revert {
            (
                format!("revert_{phase}"),
                plan.reversal_markdown(phase),
                quote!(revert),
            )
        } else {
            (phase.name().to_owned(), plan.phase_markdown(phase), quote!(run))
        };
        let name = syn::Ident::new(&name, Span::call_site());
        quote! {
            #[doc = #doc]
            // A private declaration need not call all eight.
            #[allow(dead_code)]
            #vis fn #name(runner: &mut #private::Runner) -> #private::Result<#private::PhaseReport> {
                runner.#call(&#ident, #private::Phase::#variant)
            }
        }
    });
    let version_schema = version_schema_const(vis, plan);
    quote! {
        #[automatically_derived]
        impl #ident {
            #version_schema
            #(#functions)*
        }
    }
}

/// `VERSION_SCHEMA`, for a declaration whose new version sees its tables through one: the
/// application names it from the declaration, so it cannot name a schema no migration makes.
fn version_schema_const(vis: &syn::Visibility, plan: &Plan) -> TokenStream {
    if plan.presents.is_empty() {
        return TokenStream::new();
    }
    let schema = zdm_plan::names::version_schema(&plan.id);
    let doc = format!(
        "The version schema the new application version puts first on its `search_path` (`{schema}`): its \
         views show the changed tables under their final names from the end of expand."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis const VERSION_SCHEMA: &'static str = #schema;
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn messages(attr: proc_macro2::TokenStream, item: syn::ItemStruct) -> Vec<String> {
        match super::declaration(attr, &item) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn a_value_of_the_wrong_kind_says_what_the_key_takes() {
        let unit: syn::ItemStruct = syn::parse_quote!(
            pub struct S;
        );
        let cases = [
            (quote!(id = 20260101, add_column(table = "t", column = "c", ty = "text")), "`id` takes a string"),
            (
                quote!(id = "m", add_column(table = "t", column = "c", ty = "text", default = "1", not_null = "yes")),
                "`not_null` is a flag: write `not_null`",
            ),
            (
                quote!(id = "m", after("AddX"), add_column(table = "t", column = "c", ty = "text")),
                "`after` takes the declaration structs, not strings",
            ),
            (
                quote!(id = "m", add_column(table = "t", column = "c", ty = "text", colour = "x")),
                "`add_column` has no key `colour`; did you mean `column`? It takes `schema`, `table`, `column`, `ty`, \
                 `default`, `backfill`, `not_null`, `index`",
            ),
        ];
        for (attr, expected) in cases {
            let found = messages(attr, unit.clone());
            assert!(
                found.iter().any(|message| message.starts_with(expected)),
                "{found:?}"
            );
        }
    }

    #[test]
    fn key_and_value_errors_come_together() {
        let found = messages(
            quote!(id = "m", add_column(tabel = "t", column = 5, ty = "text(10)")),
            syn::parse_quote!(
                pub struct S;
            ),
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn a_struct_with_fields_is_refused() {
        let attr = quote!(id = "m", add_column(table = "t", column = "c", ty = "text"));
        for item in [
            syn::parse_quote!(
                pub struct S(u8);
            ),
            syn::parse_quote!(
                pub struct S {
                    a: u8,
                }
            ),
        ] {
            let found = messages(attr.clone(), item);
            assert!(found[0].contains("goes on a unit struct"), "{found:?}");
        }
    }

    /// The rustdoc of each item of an expansion, by the item's name.
    fn docs(expansion: proc_macro2::TokenStream) -> Vec<(String, String)> {
        let doc = |attrs: &[syn::Attribute]| {
            attrs
                .iter()
                .filter_map(|attr| match &attr.meta {
                    syn::Meta::NameValue(syn::MetaNameValue {
                        path,
                        value:
                            syn::Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Str(text),
                                ..
                            }),
                        ..
                    }) if path.is_ident("doc") => Some(text.value()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let file: syn::File = syn::parse2(expansion).unwrap();
        let mut found = Vec::new();
        for item in file.items {
            match item {
                syn::Item::Struct(item) => found.push((item.ident.to_string(), doc(&item.attrs))),
                syn::Item::Impl(item) if item.trait_.is_none() => {
                    for inner in item.items {
                        if let syn::ImplItem::Fn(function) = inner {
                            found.push((function.sig.ident.to_string(), doc(&function.attrs)));
                        }
                    }
                }
                _ => {}
            }
        }
        found
    }

    #[test]
    fn every_phase_function_is_documented_with_its_steps_and_sql() {
        let attr = quote!(
            id = "m1",
            add_column(
                table = "users",
                column = "email_lower",
                ty = "text",
                backfill = "lower(email)",
                not_null,
                index
            )
        );
        let item: syn::ItemStruct = syn::parse_quote!(
            /// The user's own words.
            pub struct AddEmailLower;
        );
        let plan = super::declaration(attr.clone(), &item).unwrap().plan;
        let docs = docs(super::zero_downtime(attr, quote!(#item)));
        let names: Vec<&str> = docs.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "AddEmailLower",
                "expand",
                "sync",
                "backfill",
                "contract",
                "revert_contract",
                "revert_backfill",
                "revert_sync",
                "revert_expand"
            ]
        );
        let summary = &docs[0].1;
        assert!(
            summary.starts_with(" The user's own words.\n\n# Phases of `m1`"),
            "{summary}"
        );
        for phase in zdm_plan::Phase::ALL {
            assert!(summary.contains(&format!("`{phase}` (")), "{summary}");
            for (name, steps) in [
                (phase.name().to_owned(), &plan.phase(phase).forward),
                (format!("revert_{phase}"), &plan.phase(phase).reverse),
            ] {
                let doc = &docs.iter().find(|(found, _)| *found == name).unwrap().1;
                assert!(!steps.is_empty(), "{name} of this declaration has steps");
                for step in steps.iter() {
                    if step.lock != zdm_plan::Lock::None {
                        assert!(doc.contains(&step.lock.to_string()), "{name}: {doc}");
                    }
                    for line in step.statements().iter().flat_map(|statement| statement.lines()) {
                        assert!(doc.contains(&format!("\n   {line}\n")), "{name}: {line}\n{doc}");
                    }
                }
                let fenced = steps.iter().filter(|step| !step.statements().is_empty()).count();
                assert_eq!(doc.matches("   ```sql\n").count(), fenced, "{name}: {doc}");
            }
        }
    }

    #[test]
    fn a_phase_with_nothing_to_do_says_so() {
        let attr = quote!(
            id = "m2",
            add_column(table = "users", column = "nickname", ty = "text")
        );
        let item: syn::ItemStruct = syn::parse_quote!(
            pub struct AddNickname;
        );
        let docs = docs(super::zero_downtime(attr, quote!(#item)));
        let doc = |name: &str| docs.iter().find(|(found, _)| found == name).unwrap().1.clone();
        assert!(doc("AddNickname").starts_with("# Phases of `m2`"));
        assert!(doc("AddNickname").contains("`sync` (nothing to do)"));
        for name in [
            "sync",
            "backfill",
            "contract",
            "revert_contract",
            "revert_backfill",
            "revert_sync",
        ] {
            assert!(
                doc(name).contains("has nothing to do here"),
                "{name}: {}",
                doc(name)
            );
        }
        assert!(doc("expand").contains("```sql\n   ALTER TABLE \"users\" ADD COLUMN \"nickname\" text\n"));
    }

    #[test]
    fn names_print_as_written_not_as_markdown() {
        let attr = quote!(
            id = "m3",
            add_column(table = "<b>*t*`", column = "c_[x](y)", ty = "text")
        );
        let item: syn::ItemStruct = syn::parse_quote!(
            pub struct AddC;
        );
        let docs = docs(super::zero_downtime(attr, quote!(#item)));
        let expand = &docs.iter().find(|(name, _)| name == "expand").unwrap().1;
        let (prose, sql) = expand.split_once("```sql").unwrap();
        assert!(prose.contains(r#""\<b\>\*t\*\`""#), "{expand}");
        assert!(prose.contains(r#""c\_\[x\](y)""#), "{expand}");
        // Inside the fence the SQL is as it runs.
        assert!(
            sql.contains(r#"ALTER TABLE "<b>*t*`" ADD COLUMN "c_[x](y)" text"#),
            "{expand}"
        );
    }
}
