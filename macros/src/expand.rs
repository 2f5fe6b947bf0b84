//! Code generation: `async fn`, `fn`, and the `#[async_trait]` shape.
//!
//! The expansion resolves the `Debouncer` and renders the key before
//! anything awaits, takes the lock, and returns the busy value if that
//! fails. The guard is a local, so every exit of the body (return, `?`,
//! panic, a future dropped mid-body) releases the lock.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Block, Expr, GenericArgument, Ident, PathArguments, ReturnType, Signature, Stmt, Type,
    parse_quote,
};

use crate::args::{Args, Millis, OnError};
use crate::bindings::Bindings;
use crate::fallback;
use crate::item::ItemFn;
use crate::key::Template;

pub(crate) fn debounce(args: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = syn::parse2::<Args>(args).and_then(|args| {
        let func = syn::parse2::<ItemFn>(item.clone())?;
        expand(&args, func)
    });
    match expanded {
        Ok(expanded) => expanded,
        Err(error) => fallback::item_with_error(item, &error),
    }
}

/// Names of the expansion's locals: unreachable from the user's tokens.
struct Locals {
    /// The function returns `impl IntoResponse` / `impl Responder` and has
    /// no `busy`: both exits are wrapped in `Either`.
    either: bool,
    call: Ident,
    guard: Ident,
    busy: Ident,
    ret: Ident,
    succeeded: Ident,
    fingerprint: Ident,
    finishing: Ident,
    /// Returns `impl IntoResponse` / `impl Responder` (a response by its
    /// spelling: its release is confirmed).
    web_impl: bool,
    /// The fn's generic type parameters: a return type naming one cannot be
    /// probed for being a response (see [`settle`]).
    type_params: Vec<Ident>,
    /// A parameter (the receiver too) is or holds a reference or lifetime:
    /// the return type may then hide an elided one (`Cow<str>`), and is not
    /// probed.
    borrows: bool,
    /// The rendered `fingerprint = "..."` template, if any.
    fingerprint_template: Option<Template>,
    /// `replay` of an async handler's HTTP response, and its framework.
    web_replay: Option<Web>,
}

/// The web framework a handler's response belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Web {
    Axum,
    Actix,
}

impl Locals {
    fn new(args: &Args, sig: &Signature) -> Self {
        let span = Span::mixed_site();
        Locals {
            either: args.busy.is_none() && returns_web_impl(&sig.output),
            call: Ident::new("__debounce_call", span),
            guard: Ident::new("__debounce_guard", span),
            busy: Ident::new("__debounce_busy", span),
            ret: Ident::new("__debounce_ret", span),
            succeeded: Ident::new("__debounce_succeeded", span),
            fingerprint: Ident::new("__debounce_fingerprint", span),
            finishing: Ident::new("__debounce_finishing", span),
            web_impl: names_web_impl(&sig.output),
            type_params: sig
                .generics
                .type_params()
                .map(|param| param.ident.clone())
                .collect(),
            borrows: sig.inputs.iter().any(|input| match input {
                syn::FnArg::Receiver(receiver) => borrows(receiver.to_token_stream()),
                syn::FnArg::Typed(typed) => borrows(typed.ty.to_token_stream()),
            }),
            fingerprint_template: None,
            web_replay: None,
        }
    }
}

fn expand(args: &Args, func: ItemFn) -> syn::Result<TokenStream> {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "#[debounce] cannot apply to a `const fn`",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "#[debounce] cannot apply to a variadic fn",
        ));
    }
    let bindings = Bindings::of(sig);
    let template = Template::parse(&args.key, &bindings)?;
    let fingerprint = args
        .fingerprint
        .as_ref()
        .map(|fingerprint| Template::parse(fingerprint, &bindings))
        .transpose()?;
    let mut locals = Locals::new(args, sig);
    locals.fingerprint_template = fingerprint;
    if args.replay.is_some() && sig.asyncness.is_some() {
        locals.web_replay = web_response(&sig.output);
        if let (Some(Web::Actix), ReturnType::Type(_, ty)) = (locals.web_replay, &sig.output)
            && matches!(**ty, Type::ImplTrait(_))
        {
            return Err(syn::Error::new_spanned(
                ty,
                "`replay` of an actix-web response needs the return type `HttpResponse`: an `impl Responder` becomes a response only with the request",
            ));
        }
    }
    if args.replay.is_some() && locals.web_replay.is_none() && return_type(&sig.output).is_none() {
        return Err(syn::Error::new_spanned(
            &sig.output,
            "`replay` stores the function's output and needs a return type that can be named, not `impl Trait`",
        ));
    }

    let body = if sig.asyncness.is_some() {
        let ret_ty = return_type(&sig.output);
        let take = take_lock(args, &template, &locals, sig, true);
        let finish = finish(args, &locals, ret_ty.as_ref(), true);
        locked_async_block(args, &take, &finish, &locals, ret_ty, &func.body)
    } else if returns_future(&sig.output) {
        async_trait_body(args, &template, &locals, sig, &func.body)?
    } else {
        // The guard is a local of the function itself: dropping it on any
        // exit releases the lock, and the body keeps its own borrow and
        // lifetime inference (a closure around it would not).
        let take = take_lock(args, &template, &locals, sig, false);
        let body = &func.body;
        let private = private_path(args, Span::call_site());
        let Locals { guard, ret, .. } = &locals;
        let scope = Ident::new("__debounce_scope", Span::mixed_site());
        let wrapped = needs_value(args) || locals.either;
        // Inline, `confirm` waits for the release as the scope drops, on
        // every exit (a wrapped body's finish confirms instead).
        let confirm_on_drop = !wrapped && args.confirm == Some(true);
        let enter = quote!(let #scope = #private::enter(#guard, #confirm_on_drop););
        if wrapped {
            // The outcome decides the finish, so the body runs in a closure
            // whose value is kept (`return` and `?` stay inside it).
            let ret_ty = return_type(&sig.output);
            let finish = finish(args, &locals, ret_ty.as_ref(), false);
            let done = done(args, &locals);
            let annotation = ret_ty.as_ref().map(|ty| quote!(: #ty));
            let arrow = ret_ty.as_ref().map(|ty| quote!(-> #ty));
            quote! {
                #take
                #enter
                #[allow(clippy::redundant_closure_call)]
                let #ret #annotation = (move || #arrow { #body })();
                let #guard = #private::leave(#scope);
                #finish
                #done
            }
        } else {
            quote! { #take #enter #body }
        }
    };

    let ItemFn {
        attrs,
        vis,
        sig,
        inner_attrs,
        ..
    } = func;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    })
}

/// `::redis_debounce::__private` (or under `crate = ...`), spanned at
/// `span` so that errors in a call through it point there.
fn private_path(args: &Args, span: Span) -> TokenStream {
    if let Some(krate) = &args.krate {
        quote_spanned!(span=> #krate::__private)
    } else {
        quote_spanned!(span=> ::redis_debounce::__private)
    }
}

/// Renders the key, takes the lock, and returns the busy value on failure.
fn take_lock(
    args: &Args,
    template: &Template,
    locals: &Locals,
    sig: &Signature,
    is_async: bool,
) -> TokenStream {
    let return_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let private = private_path(args, Span::call_site());
    // Type errors in `using` and in the default busy value point at the
    // user's expression and return type, not at the whole attribute.
    let using = args.using.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |using| {
            let private = private_path(args, using.span());
            quote_spanned!(using.span()=> #private::using(&(#using)))
        },
    );
    let options = options(args, &private);
    let decode = decode(args, locals, sig, return_span);
    let Locals {
        call, guard, busy, ..
    } = locals;
    let busy_value = match &args.busy {
        // `busy = |b| ...` receives the `Busy`.
        Some(Expr::Closure(closure)) => quote!(#private::busy_with(#busy, #closure)),
        Some(value) => quote!({
            let _ = #busy;
            #value
        }),
        None if locals.either => quote!(#private::Either::Busy(#busy)),
        None => {
            // Same hygiene, the return type's location: the whole call is
            // then spanned there, and so is a missing-`FromBusy` error.
            let busy = Ident::new(
                "__debounce_busy",
                Span::mixed_site().located_at(return_span),
            );
            let private = private_path(args, return_span);
            quote_spanned!(return_span=> #private::busy(#busy))
        }
    };
    let key = template.render(&private);
    let fingerprint = &locals.fingerprint;
    // Kept for the finish, which stores it with the result.
    let keep_fingerprint = args
        .replay
        .is_some()
        .then(|| quote!(let #fingerprint = #call.fingerprint();));
    let fingerprint_args = locals.fingerprint_template.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |template| {
            let rendered = template.render(&private);
            quote!(::core::option::Option::Some(#rendered))
        },
    );
    // With `replay` the call instantiates the decoding: spanned like it.
    let span = if args.replay.is_some() {
        return_span
    } else {
        Span::call_site()
    };
    let acquire = if is_async {
        quote_spanned!(span=> #call.acquire(#decode).await)
    } else {
        quote_spanned!(span=> #call.acquire_blocking(#decode))
    };
    let taken = Ident::new("__debounce_taken", Span::mixed_site());
    quote! {
        // A statement of its own: the key's `fmt::Arguments` must not live
        // across the await below, or the future would not be `Send`.
        let #call = #private::call(
            #using,
            #key,
            #options,
            #fingerprint_args,
        );
        #keep_fingerprint
        let #guard = match #acquire {
            ::core::result::Result::Ok(#private::Start::Run(#taken)) => #taken,
            ::core::result::Result::Ok(#private::Start::Replayed(#taken)) => return #taken,
            ::core::result::Result::Err(#busy) => return #busy_value,
        };
    }
}

/// The function's value: the body's, wrapped when `locals.either`.
fn done(args: &Args, locals: &Locals) -> TokenStream {
    let ret = &locals.ret;
    if locals.either {
        let private = private_path(args, Span::call_site());
        quote!(#private::Either::Done(#ret))
    } else {
        quote!(#ret)
    }
}

/// The framework of a response type: `impl IntoResponse` and `Response`
/// are axum's, `impl Responder` and `HttpResponse` actix-web's.
fn web_response(output: &ReturnType) -> Option<Web> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    match &**ty {
        Type::ImplTrait(_) => {
            let tokens = ty.to_token_stream().to_string();
            if tokens.contains("IntoResponse") {
                Some(Web::Axum)
            } else if tokens.contains("Responder") {
                Some(Web::Actix)
            } else {
                None
            }
        }
        Type::Path(path) => match path.path.segments.last() {
            Some(last) if last.ident == "Response" && last.arguments.is_none() => Some(Web::Axum),
            Some(last) if last.ident == "HttpResponse" && last.arguments.is_none() => {
                Some(Web::Actix)
            }
            _ => None,
        },
        _ => None,
    }
}

/// `impl IntoResponse` (axum) or `impl Responder` (actix-web).
fn returns_web_impl(output: &ReturnType) -> bool {
    fn names_web_trait(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == "IntoResponse" || ident == "Responder",
            TokenTree::Group(group) => names_web_trait(group.stream()),
            _ => false,
        })
    }
    match output {
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => {
            names_web_trait(ty.to_token_stream())
        }
        _ => false,
    }
}

/// Whether the return type names `impl IntoResponse` or `impl Responder`
/// anywhere (`Result<impl IntoResponse, AppError>` too): a response by its
/// spelling.
fn names_web_impl(output: &ReturnType) -> bool {
    fn scan(tokens: TokenStream, after_impl: &mut bool) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) if ident == "impl" => {
                *after_impl = true;
                false
            }
            TokenTree::Ident(ident) => {
                *after_impl && (ident == "IntoResponse" || ident == "Responder")
            }
            TokenTree::Group(group) => scan(group.stream(), &mut false),
            TokenTree::Punct(punct) => {
                // A bound list ends at `,` or `>`.
                if matches!(punct.as_char(), ',' | '>') {
                    *after_impl = false;
                }
                false
            }
            TokenTree::Literal(_) => false,
        })
    }
    match output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => scan(ty.to_token_stream(), &mut false),
    }
}

/// The attribute's policy as the runtime's `Options`.
fn options(args: &Args, private: &TokenStream) -> TokenStream {
    let on_error = match args.on_error {
        OnError::Reject => quote!(#private::OnError::Reject),
        OnError::Allow => quote!(#private::OnError::Allow),
    };
    let ms = |millis: Option<Millis>| millis.map_or(0, |millis| millis.ms);
    let ttl_ms = args.ttl.ms;
    let wait_ms = ms(args.wait);
    let max_hold_ms = ms(args.max_hold);
    let renew = args.renew.is_some();
    let fence = args.fence.is_some();
    let replay = args.replay.is_some();
    quote! {
        #private::Options {
            ttl_ms: #ttl_ms,
            wait_ms: #wait_ms,
            renew: #renew,
            max_hold_ms: #max_hold_ms,
            fence: #fence,
            replay: #replay,
            on_error: #on_error,
        }
    }
}

/// How a stored result becomes the function's value (`replay`), spanned at
/// the return type: an output that cannot be stored is reported there.
///
/// A closure, not the fn item: passing `decode` itself would have the
/// compiler check its bound a second time, on the whole `acquire` call. The
/// `_` carries the return type's span, and an unmet bound of an explicit
/// generic argument is reported on that argument: the decoding and the
/// encoding (see `finish`) fail at the very same place, so the compiler
/// shows one error, not one per use.
fn decode(args: &Args, locals: &Locals, sig: &Signature, return_span: Span) -> TokenStream {
    let private = private_path(args, Span::call_site());
    let at_return = private_path(args, return_span);
    if args.replay.is_none() {
        return quote!(#private::no_replay);
    }
    if let Some(web) = locals.web_replay {
        let replayed = if web == Web::Actix {
            quote!(#private::actix_replayed)
        } else {
            quote!(#private::axum_replayed)
        };
        return if locals.either {
            quote!(|stored: &[u8]| #replayed(stored).map(#private::Either::Done))
        } else {
            replayed
        };
    }
    let decode = if args.replay_errors.is_some() || !returns_result(&sig.output) {
        quote_spanned!(return_span=> #at_return::decode::<_>)
    } else {
        quote_spanned!(return_span=> #at_return::decode_ok::<_, _>)
    };
    let stored = Ident::new("__debounce_stored", Span::mixed_site());
    quote!(|#stored: &[u8]| #decode(#stored))
}

/// Whether the body's value decides the finish (`cooldown`, `replay`).
fn needs_value(args: &Args) -> bool {
    args.cooldown.is_some() || args.replay.is_some()
}

/// What happens to the lock once the body has a value: released, or with a
/// successful outcome (`Ok`, or any non-`Result` value) kept taken for the
/// `cooldown`, and the value stored for `replay`; then handed over (see
/// [`settle`]).
fn finish(args: &Args, locals: &Locals, ret_ty: Option<&Type>, is_async: bool) -> TokenStream {
    let Locals {
        guard,
        ret,
        succeeded,
        fingerprint,
        finishing,
        ..
    } = locals;
    let private = private_path(args, Span::call_site());
    let settle = settle(args, locals, ret_ty, is_async);
    if !needs_value(args) {
        return quote! {
            let #finishing = #private::release(#guard);
            #settle
        };
    }
    let cooldown_ms = args.cooldown.map_or(0, |cooldown| cooldown.ms);
    let replay_ms = args.replay.map_or(0, |replay| replay.ms);
    // Kept by `take_lock` only with `replay`.
    let fingerprint = if args.replay.is_some() {
        quote!(#fingerprint)
    } else {
        quote!(::core::option::Option::None)
    };
    if let Some(web) = locals.web_replay {
        // The response is made whole (its body read) to be stored; a 2xx
        // status is the success that starts a cooldown.
        let store = match web {
            Web::Axum => quote!(#private::axum_store),
            Web::Actix => quote!(#private::actix_store),
        };
        let errors = args.replay_errors.is_some();
        let stored = Ident::new("__debounce_stored", Span::mixed_site());
        return quote! {
            let (#ret, #stored) =
                #store(#ret, #errors, #private::stored_limit(#guard.as_ref())).await;
            let #succeeded = #ret.status().is_success();
            let #finishing = #private::finish(#guard, #succeeded, #cooldown_ms, #replay_ms, #fingerprint, #stored);
            #settle
        };
    }
    // Spanned at the return type, as the decoding in `take_lock`: an
    // output that cannot be stored is reported there, once (see `decode`).
    let span = ret_ty.map_or_else(Span::call_site, Spanned::span);
    let at_return = private_path(args, span);
    let stored = if args.replay.is_none() {
        quote!(::core::option::Option::None)
    } else if args.replay_errors.is_some() {
        quote_spanned!(span=> #at_return::encode::<_>(&#ret))
    } else if ret_ty.is_some_and(is_result) {
        quote_spanned!(span=> #at_return::encode_ok::<_, _>(&#ret))
    } else {
        let encode = quote_spanned!(span=> #at_return::encode::<_>(&#ret));
        quote! {
            if #succeeded {
                #encode
            } else {
                ::core::option::Option::None
            }
        }
    };
    quote! {
        let #succeeded = {
            #[allow(unused_imports)]
            use #private::{AnyOutcome as _, ResultOutcome as _};
            (&#ret).__debounce_succeeded()
        };
        let #finishing = #private::finish(#guard, #succeeded, #cooldown_ms, #replay_ms, #fingerprint, #stored);
        #settle
    }
}

/// Hands the finish over: confirmed by Redis before the fn returns with
/// `confirm`, or when an async fn's value is a web response, so a client's
/// next request never meets the lock; otherwise detached, off the caller's
/// path.
///
/// A response is `impl IntoResponse` / `impl Responder` by its spelling,
/// else decided by the value's type (an axum `IntoResponse`, an actix-web
/// `Responder`: the runtime's `Probe`) where the return type can be probed:
/// one that names a lifetime or a reference, an `impl` or `dyn` type,
/// `Self` or a type parameter cannot (autoref picks impls regardless of
/// lifetimes, `&'static str`'s for a `&'a str`, and an uninferred type on
/// ambiguity, either a compile error) and keeps the fast path.
fn settle(args: &Args, locals: &Locals, ret_ty: Option<&Type>, is_async: bool) -> TokenStream {
    let Locals { ret, finishing, .. } = locals;
    let private = private_path(args, Span::call_site());
    let probe = is_async
        && !locals.borrows
        && ret_ty.is_some_and(|ty| probeable(ty.to_token_stream(), &locals.type_params));
    let confirm = if let Some(confirm) = args.confirm {
        quote!(#confirm)
    } else if is_async && locals.web_impl {
        quote!(true)
    } else if probe {
        quote!({
            #[allow(unused_imports)]
            use #private::{ConfirmsActix as _, ConfirmsAxum as _, ConfirmsNot as _};
            (&&&#private::Probe(&#ret)).__debounce_confirms()
        })
    } else {
        quote!(false)
    };
    if is_async {
        quote!(#finishing.settle(#confirm).await;)
    } else {
        quote!(#finishing.settle_blocking(#confirm);)
    }
}

/// Whether a return type can be probed for being a response: it names no
/// lifetime but `'static` (so `&'static str` is probed, `&'a str` is not),
/// no other reference, no `impl`/`dyn` type, `Self` or type parameter.
fn probeable(tokens: TokenStream, type_params: &[Ident]) -> bool {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let is_static = |at: usize| {
        matches!(trees.get(at), Some(TokenTree::Punct(p)) if p.as_char() == '\'')
            && matches!(trees.get(at + 1), Some(TokenTree::Ident(i)) if i == "static")
    };
    trees.iter().enumerate().all(|(at, tree)| match tree {
        TokenTree::Punct(punct) => match punct.as_char() {
            '\'' => is_static(at),
            '&' => is_static(at + 1),
            _ => true,
        },
        TokenTree::Ident(ident) => {
            ident != "impl" && ident != "dyn" && ident != "Self" && !type_params.contains(ident)
        }
        TokenTree::Group(group) => probeable(group.stream(), type_params),
        TokenTree::Literal(_) => true,
    })
}

/// Whether a parameter's type is or holds a reference or a lifetime.
fn borrows(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Punct(punct) => matches!(punct.as_char(), '\'' | '&'),
        TokenTree::Group(group) => borrows(group.stream()),
        _ => false,
    })
}

/// Whether a type is spelled as a `Result` (`Result<T, E>`, `io::Result<T>`):
/// then only its `Ok` value is stored for `replay`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path.path.segments.last().is_some_and(|last| {
                    last.ident == "Result"
                        && matches!(last.arguments, PathArguments::AngleBracketed(_))
                })
        }
        Type::Paren(paren) => is_result(&paren.elem),
        Type::Group(group) => is_result(&group.elem),
        _ => false,
    }
}

fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => {
            future_output(ty).map_or_else(|| is_result(ty), |ty| is_result(&ty))
        }
    }
}

/// The body inside its own `async move` block, awaited while the guard is
/// held; a fake return edge pins the block's type to the function's return
/// type so that `?` converts errors as in the original body.
fn locked_async_block(
    args: &Args,
    take: &TokenStream,
    finish: &TokenStream,
    locals: &Locals,
    ret_ty: Option<Type>,
    body: &TokenStream,
) -> TokenStream {
    let Locals { ret, .. } = locals;
    let fake_return = ret_ty.as_ref().map(|ty| {
        let fake = Ident::new("__debounce_fake_return", Span::mixed_site());
        quote! {
            #[allow(
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::let_unit_value,
                clippy::needless_return,
                clippy::unreachable
            )]
            if false {
                let #fake: #ty = loop {};
                return #fake;
            }
        }
    });
    let annotation = ret_ty.map(|ty| quote!(: (#ty, _)));
    let Locals { guard, .. } = locals;
    let private = private_path(args, Span::call_site());
    let done = done(args, locals);
    quote! {
        #take
        let (#ret, #guard) #annotation = #private::scope(#guard, async move {
            #fake_return
            #body
        })
        .await;
        #finish
        #done
    }
}

/// The declared return type, or `None` where it cannot be named in a `let`
/// (`impl Trait`).
fn return_type(output: &ReturnType) -> Option<Type> {
    match output {
        ReturnType::Default => Some(parse_quote!(())),
        ReturnType::Type(_, ty) if mentions_impl(ty.to_token_stream()) => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    }
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

/// Whether a non-async fn returns a future (`impl Future`, `Pin<Box<dyn
/// Future>>`, `BoxFuture`): locking around it would release before the
/// future runs.
fn returns_future(output: &ReturnType) -> bool {
    fn mentions_future(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => {
                ident == "Future" || ident == "BoxFuture" || ident == "LocalBoxFuture"
            }
            TokenTree::Group(group) => mentions_future(group.stream()),
            _ => false,
        })
    }
    match output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => mentions_future(ty.to_token_stream()),
    }
}

/// `Output = T` of the `Future` in `Pin<Box<dyn Future<Output = T> + ..>>`.
fn future_output(ty: &Type) -> Option<Type> {
    match ty {
        Type::Path(path) => path_output(&path.path),
        Type::TraitObject(object) => object.bounds.iter().find_map(|bound| match bound {
            syn::TypeParamBound::Trait(bound) => path_output(&bound.path),
            _ => None,
        }),
        Type::Paren(paren) => future_output(&paren.elem),
        Type::Group(group) => future_output(&group.elem),
        _ => None,
    }
}

fn path_output(path: &syn::Path) -> Option<Type> {
    path.segments
        .iter()
        .find_map(|segment| match &segment.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
                GenericArgument::AssocType(assoc)
                    if assoc.ident == "Output" && segment.ident == "Future" =>
                {
                    Some(assoc.ty.clone())
                }
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            }),
            _ => None,
        })
}

/// The shape `#[async_trait]` gives a method: a non-async fn whose body ends
/// in `Box::pin(async move { .. })`. The lock goes inside that async block.
fn async_trait_body(
    args: &Args,
    template: &Template,
    locals: &Locals,
    sig: &Signature,
    body: &TokenStream,
) -> syn::Result<TokenStream> {
    let output = &sig.output;
    let unsupported = || {
        syn::Error::new_spanned(
            output,
            "#[debounce] on a fn that returns a future needs `async fn` (or the `Box::pin(async move { .. })` body that #[async_trait] generates): locking around a returned future would release before it runs",
        )
    };
    let mut stmts = (|input: ParseStream<'_>| Block::parse_within(input)).parse2(body.clone())?;
    let Some(Stmt::Expr(Expr::Call(call), None)) = stmts.last_mut() else {
        return Err(unsupported());
    };
    let is_box_pin = matches!(&*call.func, Expr::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident == "pin"));
    if !is_box_pin || call.args.len() != 1 {
        return Err(unsupported());
    }
    let Some(Expr::Async(inner)) = call.args.first() else {
        return Err(unsupported());
    };
    let ret_ty = match output {
        ReturnType::Type(_, ty) => {
            future_output(ty).filter(|ty| !mentions_impl(ty.to_token_stream()))
        }
        ReturnType::Default => None,
    };
    if args.replay.is_some() && ret_ty.is_none() {
        return Err(syn::Error::new_spanned(
            output,
            "`replay` stores the function's output and needs a future whose `Output` type can be named",
        ));
    }
    let take = take_lock(args, template, locals, sig, true);
    let block = &inner.block;
    let finish = finish(args, locals, ret_ty.as_ref(), true);
    let locked = locked_async_block(args, &take, &finish, locals, ret_ty, &quote!(#block));
    let wrapped: Expr = parse_quote!(async move { #locked });
    if let Some(arg) = call.args.first_mut() {
        *arg = wrapped;
    }
    Ok(quote!(#(#stmts)*))
}
