//! On any error: the original item plus the error, so that the rest of the
//! crate still compiles and one mistake gives one error, not a cascade.

use proc_macro2::TokenStream;

pub(crate) fn item_with_error(mut item: TokenStream, error: &syn::Error) -> TokenStream {
    item.extend(error.to_compile_error());
    item
}
