//! A key that takes one name or a list of them (`columns = "email"`,
//! `columns = ["email", "created_at"]`), each name kept with its span so an error about one
//! of them points at it.

use darling::util::SpannedValue;
use darling::FromMeta;
use proc_macro2::Span;
use syn::spanned::Spanned;

#[derive(Debug)]
pub struct Names {
    pub names: Vec<SpannedValue<String>>,
    /// The whole value as written, for errors about the list itself (an empty one).
    pub span: Span,
}

impl FromMeta for Names {
    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        match expr {
            syn::Expr::Array(array) => {
                let mut errors = darling::Error::accumulator();
                let names = array
                    .elems
                    .iter()
                    .filter_map(|element| errors.handle(name(element)))
                    .collect();
                errors.finish_with(Names {
                    names,
                    span: array.span(),
                })
            }
            syn::Expr::Group(group) => Names::from_expr(&group.expr),
            other => Ok(Names {
                names: vec![name(other)?],
                span: other.span(),
            }),
        }
    }
}

fn name(expr: &syn::Expr) -> darling::Result<SpannedValue<String>> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Ok(SpannedValue::new(text.value(), text.span())),
        syn::Expr::Group(group) => name(&group.expr),
        other => Err(darling::Error::custom(
            "expected a name in double quotes, such as \"email\", or a list of them: [\"email\", \"created_at\"]",
        )
        .with_span(other)),
    }
}
