//! On any error: the original item plus the error, so that the rest of the
//! crate still compiles and one mistake gives one error, not a cascade.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn item_with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    // The parameters the key would have used look unused now; saying so
    // would bury the one real error.
    let mut tokens = quote!(#[allow(unused_variables)]);
    tokens.extend(item);
    tokens.extend(error.to_compile_error());
    tokens
}
