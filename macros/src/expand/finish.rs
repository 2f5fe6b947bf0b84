//! The end of a call: what its value means (`cooldown`, `replay`), how
//! results are stored and read back, and how the finish is handed over.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::{Place, local, private, private_at};
use crate::args::Args;
use crate::plan::{Confirm, Output, Plan, Web};

pub(super) fn needs_value(args: &Args) -> bool {
    args.cooldown.is_some() || args.replay.is_some()
}

/// How results are stored and read back (`replay`): made once, spanned at
/// the return type, where an output that cannot be stored is reported
/// (once: its uses have no bounds left to check).
pub(super) fn codec(plan: &Plan, place: Place) -> Option<TokenStream> {
    let args = &plan.args;
    args.replay?;
    let private = private(plan);
    let codec = local("__debounce_codec");
    let whole = args.replay_errors.is_some();
    let span = plan.return_span;
    let at_return = private_at(args, span);
    let made = match &plan.output {
        Output::Named(ty) => {
            let method = match (place == Place::Blocking, whole) {
                (false, false) => quote_spanned!(span=> codec),
                (false, true) => quote_spanned!(span=> codec_whole),
                (true, false) => quote_spanned!(span=> codec_blocking),
                (true, true) => quote_spanned!(span=> codec_blocking_whole),
            };
            quote_spanned!(span=> {
                use #at_return::kinds::*;
                (&#at_return::Shape::<#ty>::NEW).__debounce_kind()
            }
            .#method())
        }
        // `impl IntoResponse`: stored as the response it makes (the plan
        // refuses `replay` of any other `impl Trait`).
        Output::Web(_) | Output::Opaque => quote!(#private::axum_codec(#whole)),
    };
    Some(quote!(let #codec = #made;))
}

/// How a stored result becomes the body's value (`replay`).
pub(super) fn decode(plan: &Plan) -> TokenStream {
    let private = private(plan);
    if plan.args.replay.is_none() {
        return quote!(#private::no_replay);
    }
    let codec = local("__debounce_codec");
    let stored = local("__debounce_stored");
    let name = local("__debounce_name");
    let value = quote!(#codec.decode(#stored, #name));
    let value = if plan.either {
        quote!(#value.map(#private::Either::Done))
    } else {
        value
    };
    quote!(|#stored: &#private::Record<'_>, #name: &'static str| #value)
}

/// What happens to the lock once the body has a value: released, or with
/// a successful outcome kept taken for the `cooldown`, and the value
/// stored for `replay`; then handed over, confirmed by Redis before the fn
/// returns where the plan says.
pub(super) fn finish(plan: &Plan, is_async: bool) -> TokenStream {
    let private = private(plan);
    let args = &plan.args;
    let guard = local("__debounce_guard");
    let ret = local("__debounce_ret");
    let end = local("__debounce_end");
    let kind = local("__debounce_kind");
    let stored = local("__debounce_stored");
    let finishing = local("__debounce_finishing");
    let settle = settle(plan, is_async);
    if !needs_value(args) {
        return quote! {
            let #finishing = #private::release(#guard);
            #settle
        };
    }
    let span = plan.return_span;
    let at_return = private_at(args, span);
    let codec = local("__debounce_codec");
    // An `impl IntoResponse` is stored as the response it makes.
    let as_response = (args.replay.is_some() && matches!(plan.output, Output::Web(Web::Axum)))
        .then(|| quote!(let #ret = #private::axum_response(#ret);));
    let kind_of = quote_spanned! {span=>
        let #kind = {
            use #at_return::kinds::*;
            (&#at_return::Shape::of(&#ret)).__debounce_kind()
        };
    };
    let store = if args.replay.is_none() {
        quote!(let #stored = ::core::option::Option::None;)
    } else if is_async {
        quote! {
            let (#ret, #stored) =
                #kind.store(#codec, #ret, #private::stored_limit(#guard.as_ref())).await;
        }
    } else {
        quote!(let #stored = #codec.encode(&#ret);)
    };
    quote! {
        #as_response
        #kind_of
        #store
        let #finishing = #end.finish(#guard, #kind.succeeded(&#ret), #stored);
        #settle
    }
}

/// Hands the finish over: confirmed by Redis before the fn returns when
/// the plan says (`confirm`, or an async fn's web response, so a client's
/// next request never meets the lock); otherwise detached, off the
/// caller's path.
pub(super) fn settle(plan: &Plan, is_async: bool) -> TokenStream {
    let private = private(plan);
    let ret = local("__debounce_ret");
    let finishing = local("__debounce_finishing");
    let confirm = match plan.confirm {
        Confirm::Always => quote!(true),
        Confirm::Never => quote!(false),
        Confirm::Probe => quote!({
            use #private::kinds::*;
            (&&&#private::Probe(&#ret)).__debounce_confirms()
        }),
    };
    if is_async {
        quote!(#finishing.settle(#confirm).await;)
    } else {
        quote!(#finishing.settle_blocking(#confirm);)
    }
}

/// The function's value: the body's, wrapped when `either`.
pub(super) fn done(plan: &Plan) -> TokenStream {
    let ret = local("__debounce_ret");
    if plan.either {
        let private = private(plan);
        quote!(#private::Either::Done(#ret))
    } else {
        quote!(#ret)
    }
}
