//! Code generation from a [`Plan`]: `async fn`, `fn`, and a fn that
//! returns `Box::pin(async move { .. })`. It cannot fail: every check is
//! in the plan.
//!
//! The expansion resolves the `Debouncer` and renders the key before
//! anything awaits, takes the lock, and returns the busy value if that
//! fails. The guard is a local, so every exit of the body (return, `?`,
//! panic, a future dropped mid-body) releases the lock. It carries no
//! `#[allow]`, so a crate that forbids warnings takes it as it is.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use crate::args::{Args, OnError};
use crate::fallback;
use crate::item::ItemFn;
use crate::plan::{self, Confirm, FutureBody, Output, Plan, Shape};

mod finish;

use finish::{codec, decode, done, finish, needs_value};

pub(crate) fn debounce(args: TokenStream, item: TokenStream) -> TokenStream {
    let planned = syn::parse2::<Args>(args).and_then(|args| {
        let func = syn::parse2::<ItemFn>(item.clone())?;
        plan::analyse(args, func)
    });
    match planned {
        Ok(plan) => generate(&plan),
        Err(error) => fallback::item_with_error(item, &error),
    }
}

/// Names of the expansion's locals: unreachable from the user's tokens.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A use of a parameter's binding, resolved at the call site: the use is
/// the expansion's, so lints on uses (`_guard` used) stay quiet. A `_` the
/// expansion named keeps its own (hidden) identifier.
fn use_of(owned: &crate::plan::Owned) -> Ident {
    let mut used = owned.ident.clone();
    if !owned.hidden {
        used.set_span(Span::call_site());
    }
    used
}

fn generate(plan: &Plan) -> TokenStream {
    let body = match &plan.shape {
        Shape::Async(body) => {
            let check = future_check(plan);
            let take = take(plan, Place::Async);
            let locked = locked(plan, body);
            quote!(#check #take #locked)
        }
        Shape::Sync { body, wrapped } => sync_body(plan, body, *wrapped),
        Shape::Future(future) => future_fn_body(plan, future),
    };
    let Plan {
        attrs,
        vis,
        sig,
        inner_attrs,
        ..
    } = plan;
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    }
}

/// `::redis_debounce::__private` (or under `crate = ...`), spanned at
/// `span` so that errors in a call through it point there.
fn private_at(args: &Args, span: Span) -> TokenStream {
    if let Some(krate) = &args.krate {
        quote_spanned!(span=> #krate::__private)
    } else {
        quote_spanned!(span=> ::redis_debounce::__private)
    }
}

fn private(plan: &Plan) -> TokenStream {
    private_at(&plan.args, Span::call_site())
}

/// Where the take runs: it decides how the acquire is waited for, and
/// whether the `Call` was made before (a hand-written boxed future).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Async,
    Blocking,
    /// Inside a boxed future whose `Call` was made before it.
    InFuture,
}

/// `self` in a user expression renamed to `alias` (after `#[async_trait]`'s
/// `let __self = self;`, `self` has moved).
fn aliased(tokens: TokenStream, alias: Option<&Ident>) -> TokenStream {
    let Some(alias) = alias else {
        return tokens;
    };
    tokens
        .into_iter()
        .map(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) if ident == "self" => {
                let mut alias = alias.clone();
                alias.set_span(alias.span().located_at(ident.span()));
                proc_macro2::TokenTree::Ident(alias)
            }
            proc_macro2::TokenTree::Group(group) => {
                let mut renamed = proc_macro2::Group::new(
                    group.delimiter(),
                    aliased(group.stream(), Some(alias)),
                );
                renamed.set_span(group.span());
                proc_macro2::TokenTree::Group(renamed)
            }
            tree => tree,
        })
        .collect()
}

/// Resolves the `Debouncer` and renders the key (a statement of its own:
/// the key's `fmt::Arguments` must not live across an await, or the future
/// would not be `Send`).
fn make_call(plan: &Plan) -> TokenStream {
    let private = private(plan);
    let args = &plan.args;
    // Type errors in `using` point at the user's expression.
    let using = args.using.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |using| {
            let private = private_at(args, using.span());
            let using = aliased(using.to_token_stream(), plan.self_alias.as_ref());
            quote_spanned!(using.span()=> #private::using(&(#using)))
        },
    );
    let key = plan.key.render(&private);
    let fingerprint = plan.fingerprint.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |template| {
            let rendered = template.render(&private);
            quote!(::core::option::Option::Some(#rendered))
        },
    );
    let options = options(plan);
    let call = local("__debounce_call");
    quote! {
        let #call = #private::call(#using, #key, #options, #fingerprint);
    }
}

/// The attribute's policy as the runtime's `Options`.
fn options(plan: &Plan) -> TokenStream {
    let private = private(plan);
    let args = &plan.args;
    let duration = |ms: u64| quote!(::core::time::Duration::from_millis(#ms));
    let optional = |millis: Option<crate::args::Millis>| {
        if let Some(millis) = millis {
            let duration = duration(millis.ms);
            quote!(::core::option::Option::Some(#duration))
        } else {
            quote!(::core::option::Option::None)
        }
    };
    let ttl = duration(args.ttl.ms);
    let wait = optional(args.wait);
    let max_hold = optional(args.max_hold);
    let cooldown = optional(args.cooldown);
    let replay = optional(args.replay);
    let renew = args.renew.is_some();
    let fence = args.fence.is_some();
    let stored_as = &plan.stored_as;
    let stored_as = quote!(::core::concat!(::core::module_path!(), #stored_as));
    let on_error = match args.on_error {
        OnError::Reject => quote!(#private::OnError::Reject),
        OnError::Allow => quote!(#private::OnError::Allow),
    };
    let name = plan.sig.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let template = args.key.value();
    quote! {
        #private::Options {
            ttl: #ttl,
            wait: #wait,
            renew: #renew,
            max_hold: #max_hold,
            fence: #fence,
            cooldown: #cooldown,
            replay: #replay,
            stored_as: #stored_as,
            on_error: #on_error,
            site: {
                static __DEBOUNCE_SITE: #private::Site = #private::Site::new(#name, #template);
                &__DEBOUNCE_SITE
            },
        }
    }
}

/// `max_hold`'s rule with `renew` and `ttl`, the runtime's own, evaluated at
/// compile time: a constant whose evaluation fails at `max_hold`.
fn max_hold_check(plan: &Plan) -> Option<TokenStream> {
    let args = &plan.args;
    let max_hold = args.max_hold?;
    let span = max_hold.span;
    let private = private_at(args, span);
    let (ttl, hold) = (args.ttl.ms, max_hold.ms);
    let renew = args.renew.is_some();
    let error = local("__debounce_error");
    Some(quote_spanned! {span=>
        const _: () = if let ::core::option::Option::Some(#error) = #private::max_hold_error(
            ::core::time::Duration::from_millis(#ttl),
            #renew,
            ::core::option::Option::Some(::core::time::Duration::from_millis(#hold)),
        ) {
            ::core::panic!("{}", #error)
        };
    })
}

/// Each duration's rule (longer than zero, at most 100 years), the
/// runtime's own, evaluated at compile time: a constant whose evaluation
/// fails at the duration, naming its argument.
fn duration_checks(plan: &Plan) -> TokenStream {
    let args = &plan.args;
    let durations = [
        Some(args.ttl),
        args.wait,
        args.cooldown,
        args.replay,
        args.max_hold,
    ];
    durations
        .into_iter()
        .flatten()
        .map(|millis| {
            let span = millis.span;
            let private = private_at(args, span);
            let ms = millis.ms;
            let zero = format!("`{}` must be longer than zero", millis.name);
            let long = format!(
                "`{}` is too long: at most 100 years (\"36525d\")",
                millis.name
            );
            quote_spanned! {span=>
                const _: () = match #private::duration_error(::core::time::Duration::from_millis(#ms)) {
                    ::core::option::Option::Some(#private::DurationError::Zero) => ::core::panic!(#zero),
                    ::core::option::Option::Some(#private::DurationError::TooLong) => ::core::panic!(#long),
                    ::core::option::Option::None => {}
                };
            }
        })
        .collect()
}

/// Takes the lock, or returns the busy value (or a replayed result).
fn take(plan: &Plan, place: Place) -> TokenStream {
    let private = private(plan);
    let args = &plan.args;
    let call = local("__debounce_call");
    let end = local("__debounce_end");
    let guard = local("__debounce_guard");
    let busy = local("__debounce_busy");
    let taken = local("__debounce_taken");
    let make_call = (place != Place::InFuture).then(|| make_call(plan));
    let codec = codec(plan, place);
    let keep_end = needs_value(args).then(|| quote!(let #end = #call.end();));
    let decode = decode(plan);
    // With `replay` the call instantiates the decoding: spanned like it.
    let span = if args.replay.is_some() {
        plan.return_span
    } else {
        Span::call_site()
    };
    let acquire = match place {
        Place::Blocking => quote_spanned!(span=> #call.acquire_blocking(#decode)),
        Place::Async | Place::InFuture => quote_spanned!(span=> #call.acquire(#decode).await),
    };
    // A `busy` that diverges (`panic!()`) is the arm itself: a `return` of
    // it would be unreachable code.
    let busy_value = if diverges(plan.args.busy.as_ref()) {
        busy_value(plan, place)
    } else {
        let value = busy_value(plan, place);
        quote!(return #value)
    };
    let max_hold_check = max_hold_check(plan);
    let duration_checks = duration_checks(plan);
    quote! {
        #duration_checks
        #max_hold_check
        #make_call
        #codec
        #keep_end
        let #guard = match #acquire {
            ::core::result::Result::Ok(#private::Start::Run(#taken)) => #taken,
            ::core::result::Result::Ok(#private::Start::Replayed(#taken)) => return #taken,
            ::core::result::Result::Err(#busy) => #busy_value,
        };
    }
}

/// A `busy` written as a macro that never returns.
fn diverges(busy: Option<&Expr>) -> bool {
    matches!(busy, Some(Expr::Macro(mac)) if mac.mac.path.segments.last().is_some_and(|last| {
        ["panic", "unreachable", "todo", "unimplemented"]
            .iter()
            .any(|name| last.ident == name)
    }))
}

/// The value returned instead of running the body.
fn busy_value(plan: &Plan, place: Place) -> TokenStream {
    let private = private(plan);
    let busy = local("__debounce_busy");
    let value = match &plan.args.busy {
        // `busy = |b| ...` receives the `Busy`.
        Some(Expr::Closure(closure)) => {
            let closure = aliased(closure.to_token_stream(), plan.self_alias.as_ref());
            quote!(#private::busy_with(#busy, #closure))
        }
        Some(value) => {
            let value = aliased(value.to_token_stream(), plan.self_alias.as_ref());
            quote!({
                let _ = #busy;
                #value
            })
        }
        None if plan.either => return quote!(#private::Either::Busy(#busy)),
        None => {
            // Same hygiene, the return type's location: the whole call is
            // then spanned there, and so is a missing-`FromBusy` error.
            let return_span = plan.return_span;
            let busy = Ident::new(
                "__debounce_busy",
                Span::mixed_site().located_at(return_span),
            );
            let private = private_at(&plan.args, return_span);
            return quote_spanned!(return_span=> #private::busy(#busy));
        }
    };
    if place == Place::Async || place == Place::Blocking {
        return value;
    }
    // Inside a returned future: a busy value may be written as the future
    // the fn returns (`Box::pin(async move { Err(b) })`), awaited here, or
    // as what it resolves to.
    let value_local = local("__debounce_value");
    quote!({
        use #private::kinds::*;
        let #value_local = #value;
        (&#private::Shape::of(&#value_local))
            .__debounce_returns()
            .resolve(#value_local)
    }
    .await)
}

/// The async body, awaited under the lock as the task's current body, then
/// the finish.
fn locked(plan: &Plan, body: &TokenStream) -> TokenStream {
    let private = private(plan);
    let ret = local("__debounce_ret");
    let guard = local("__debounce_guard");
    // Moved into the block, so they are dropped in it, under the lock.
    let owned = plan.owned.iter().map(|owned| {
        let (cfgs, used) = (&owned.cfgs, use_of(owned));
        quote!(#(#cfgs)* let _ = &#used;)
    });
    // The block's output is pinned to the return type, so that `?`
    // converts errors as in the original body.
    let output = match &plan.output {
        Output::Named(ty) => ty.to_token_stream(),
        Output::Web(_) | Output::Opaque => {
            if let (Shape::Async(_), Some(ty)) = (&plan.shape, plan::inferable(&plan.sig.output)) {
                ty.to_token_stream()
            } else {
                quote!(_)
            }
        }
    };
    let finish = finish(plan, true);
    let done = done(plan);
    quote! {
        let (#ret, #guard) = #private::scope::<#output, _>(#guard, async move {
            #(#owned)*
            #body
        })
        .await;
        #finish
        #done
    }
}

/// A plain fn's body: inline under the guard, or in a closure whose value
/// decides the finish.
fn sync_body(plan: &Plan, body: &TokenStream, wrapped: bool) -> TokenStream {
    let private = private(plan);
    let guard = local("__debounce_guard");
    let ret = local("__debounce_ret");
    let scope = local("__debounce_scope");
    let check = future_check(plan);
    let take = take(plan, Place::Blocking);
    let wrapped = wrapped || plan.either;
    if !wrapped {
        // The guard is a local of the function itself: dropping it on any
        // exit releases the lock (with `confirm`, waiting for Redis), and
        // the body keeps its own borrows and lifetime inference. The
        // parameters are moved into locals declared after it, so they are
        // dropped before it: under the lock.
        let confirm = matches!(plan.confirm, Confirm::Always);
        let owned = plan.owned.iter().map(|owned| {
            let (cfgs, ident, used) = (&owned.cfgs, &owned.ident, use_of(owned));
            let mutability = owned.mutable.then(|| quote!(mut));
            quote! {
                #(#cfgs)* let #mutability #ident = #used;
                #(#cfgs)* let _ = &#used;
            }
        });
        return quote! {
            #check
            #take
            let #scope = #private::enter(#guard, #confirm);
            #(#owned)*
            #body
        };
    }
    // The outcome decides the finish, so the body runs in a closure whose
    // value is kept (`return` and `?` stay inside it); an `FnOnce`, so it
    // may return what it borrows from its captures.
    let owned = plan.owned.iter().map(|owned| {
        let (cfgs, used) = (&owned.cfgs, use_of(owned));
        quote!(#(#cfgs)* let _ = &#used;)
    });
    let (annotation, arrow) = match &plan.output {
        Output::Named(ty) => (Some(quote!(: #ty)), Some(quote!(-> #ty))),
        Output::Web(_) | Output::Opaque => match plan::inferable(&plan.sig.output) {
            Some(ty) => (Some(quote!(: #ty)), Some(quote!(-> #ty))),
            None => (None, None),
        },
    };
    // An `impl Trait` value is checked for being a future by its type.
    let value_check = matches!(plan.output, Output::Opaque).then(|| {
        quote! {
            {
                use #private::kinds::*;
                (&#private::Shape::of(&#ret))
                    .__debounce_returns()
                    .__debounce_check_value(&#ret);
            }
        }
    });
    let finish = finish(plan, false);
    let done = done(plan);
    quote! {
        #check
        #take
        let #scope = #private::enter(#guard, false);
        let #ret #annotation = #private::run_once(move || #arrow {
            #(#owned)*
            #body
        });
        #value_check
        let #guard = #private::leave(#scope);
        #finish
        #done
    }
}

/// A fn must not return a future (the lock would be released before it
/// runs): checked by the return type's kind where it can be named.
fn future_check(plan: &Plan) -> Option<TokenStream> {
    let Output::Named(ty) = &plan.output else {
        return None;
    };
    if matches!(**ty, syn::Type::Never(_)) {
        return None;
    }
    let span = plan.return_span;
    let private = private_at(&plan.args, span);
    Some(quote_spanned! {span=>
        {
            use #private::kinds::*;
            (&#private::Shape::<#ty>::NEW)
                .__debounce_returns()
                .__debounce_check::<#ty>();
        }
    })
}

/// The fn body of a fn that returns `Box::pin(async move { .. })`: the
/// lock is taken inside the future. A hand-written future's key is
/// rendered before it, so the future borrows nothing for it (a `'static`
/// future over `&mut self`); `#[async_trait]`'s after its declarations.
fn future_fn_body(plan: &Plan, future: &FutureBody) -> TokenStream {
    let FutureBody {
        before,
        pin,
        decls,
        rest,
    } = future;
    let inside = !decls.is_empty();
    let make_call = (!inside).then(|| make_call(plan));
    let take = take(
        plan,
        if inside {
            Place::Async
        } else {
            Place::InFuture
        },
    );
    let locked = locked(plan, &quote!(#(#rest)*));
    // The future's output is pinned too (as `#[async_trait]` does in its
    // declarations), so that a `busy` value coerces to it (`Box::new(Square)`
    // for a `Box<dyn Shape>`). The shape stays `Box::pin(async move { .. })`,
    // which `#[tracing::instrument]` after this attribute recognises.
    let hint = match (&plan.output, inside) {
        (Output::Named(ty), false) => {
            let out = local("__debounce_out");
            Some(quote! {
                if let ::core::option::Option::Some(#out) = ::core::option::Option::None::<#ty> {
                    return #out;
                }
            })
        }
        _ => None,
    };
    quote! {
        #make_call
        #(#before)*
        #pin(async move {
            #hint
            #(#decls)*
            #take
            #locked
        })
    }
}
