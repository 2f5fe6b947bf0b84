//! The annotated function, kept token for token except for its body.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Visibility, braced};

/// `#[attrs] vis sig { body }`: a free function or a method alike.
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `#![...]` at the top of the body; they stay at the top.
    pub(crate) inner_attrs: Vec<Attribute>,
    /// The statements, unparsed: the expansion moves them, never reads them
    /// (except for the `#[async_trait]` shape, see `expand`).
    pub(crate) body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        if input.peek(syn::Token![;]) {
            let semi: syn::Token![;] = input.parse()?;
            return Err(syn::Error::new(
                semi.span,
                "#[debounce] locks around a body, and this declaration has none: put it on the method in each `impl` (or on a default body)",
            ));
        }
        let content;
        braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
        })
    }
}
