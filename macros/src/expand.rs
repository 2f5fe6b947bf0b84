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

use crate::args::{Args, OnError};
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
    call: Ident,
    guard: Ident,
    busy: Ident,
    ret: Ident,
}

impl Locals {
    fn new() -> Self {
        let span = Span::mixed_site();
        Locals {
            call: Ident::new("__debounce_call", span),
            guard: Ident::new("__debounce_guard", span),
            busy: Ident::new("__debounce_busy", span),
            ret: Ident::new("__debounce_ret", span),
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
    let template = Template::parse(&args.key, &Bindings::of(sig))?;
    let locals = Locals::new();

    let body = if sig.asyncness.is_some() {
        let take = take_lock(args, &template, &locals, sig, true);
        let finish = finish(args, &locals);
        locked_async_block(
            &take,
            &finish,
            &locals,
            return_type(&sig.output),
            &func.body,
        )
    } else if returns_future(&sig.output) {
        async_trait_body(args, &template, &locals, sig, &func.body)?
    } else {
        // The guard is a local of the function itself: dropping it on any
        // exit releases the lock, and the body keeps its own borrow and
        // lifetime inference (a closure around it would not).
        let take = take_lock(args, &template, &locals, sig, false);
        let body = &func.body;
        if args.cooldown_ms.is_some() {
            // The outcome decides the finish, so the body runs in a closure
            // whose value is kept (`return` and `?` stay inside it).
            let finish = finish(args, &locals);
            let Locals { ret, .. } = &locals;
            let ret_ty = return_type(&sig.output);
            let annotation = ret_ty.as_ref().map(|ty| quote!(: #ty));
            let arrow = ret_ty.as_ref().map(|ty| quote!(-> #ty));
            quote! {
                #take
                #[allow(clippy::redundant_closure_call)]
                let #ret #annotation = (move || #arrow { #body })();
                #finish
                #ret
            }
        } else {
            quote! { #take #body }
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
    let on_error = match args.on_error {
        OnError::Reject => quote!(#private::OnError::Reject),
        OnError::Allow => quote!(#private::OnError::Allow),
    };
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
    let format = &template.format;
    let format_args = &template.args;
    let ttl_ms = args.ttl_ms;
    let acquire = if is_async {
        quote!(#call.acquire().await)
    } else {
        quote!(#call.acquire_blocking())
    };
    let taken = Ident::new("__debounce_taken", Span::mixed_site());
    quote! {
        // A statement of its own: the key's `fmt::Arguments` must not live
        // across the await below, or the future would not be `Send`.
        let #call = #private::call(
            #using,
            ::core::format_args!(#format #(, #format_args)*),
            #ttl_ms,
            #on_error,
        );
        let #guard = match #acquire {
            ::core::result::Result::Ok(#taken) => #taken,
            ::core::result::Result::Err(#busy) => return #busy_value,
        };
    }
}

/// What happens to the lock once the body has a value: released, or with
/// `cooldown` and a successful outcome (`Ok`, or any non-`Result` value)
/// kept taken for the window.
fn finish(args: &Args, locals: &Locals) -> TokenStream {
    let Locals { guard, ret, .. } = locals;
    let Some(cooldown_ms) = args.cooldown_ms else {
        return quote!(::core::mem::drop(#guard););
    };
    let private = private_path(args, Span::call_site());
    quote! {
        #private::finish(
            #guard,
            {
                #[allow(unused_imports)]
                use #private::{AnyOutcome as _, ResultOutcome as _};
                (&#ret).__debounce_succeeded()
            },
            #cooldown_ms,
        );
    }
}

/// The body inside its own `async move` block, awaited while the guard is
/// held; a fake return edge pins the block's type to the function's return
/// type so that `?` converts errors as in the original body.
fn locked_async_block(
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
    let annotation = ret_ty.map(|ty| quote!(: #ty));
    quote! {
        #take
        let #ret #annotation = async move {
            #fake_return
            #body
        }
        .await;
        #finish
        #ret
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
    let take = take_lock(args, template, locals, sig, true);
    let block = &inner.block;
    let finish = finish(args, locals);
    let locked = locked_async_block(&take, &finish, locals, ret_ty, &quote!(#block));
    let wrapped: Expr = parse_quote!(async move { #locked });
    if let Some(arg) = call.args.first_mut() {
        *arg = wrapped;
    }
    Ok(quote!(#(#stmts)*))
}
