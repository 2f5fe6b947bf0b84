//! The analysed plan of one `#[debounce]` fn: its shape, what its value
//! is, its key, and every check. All errors are found here, before any
//! code is generated, so generation cannot fail.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Pat, ReturnType, Signature, Stmt, Type, Visibility};

use crate::args::Args;
use crate::bindings::Bindings;
use crate::item::ItemFn;
use crate::key::Template;

mod future;
mod output;
mod owned;

use future::{declared, future_body, is_async_trait};
pub(crate) use output::inferable;
use output::{
    borrows_any, future_output, names_generic, names_web_impl, output_of, probeable,
    returns_future, spelled,
};
use owned::{owned_params, takes_self};

pub(crate) struct Plan {
    pub(crate) args: Args,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) shape: Shape,
    pub(crate) output: Output,
    /// Where errors about the return type point.
    pub(crate) return_span: Span,
    pub(crate) key: Template,
    pub(crate) fingerprint: Option<Template>,
    /// Both exits wrapped in `Either` (`impl IntoResponse` / `impl
    /// Responder` without `busy`).
    pub(crate) either: bool,
    pub(crate) confirm: Confirm,
    /// Parameters owned by the call, dropped while the lock is held.
    pub(crate) owned: Vec<Owned>,
    /// The stored result's type identity: the return type as written.
    pub(crate) stored_as: String,
    /// What `self` is called where `using` and `busy` are evaluated:
    /// `__self` inside the body `#[async_trait]` made.
    pub(crate) self_alias: Option<Ident>,
}

/// How the body runs.
pub(crate) enum Shape {
    /// `async fn`: the body in an async block, awaited under the lock.
    Async(TokenStream),
    /// A plain fn: the body inline under a guard, or (`wrapped`, when its
    /// value decides the finish) in a closure whose value is kept.
    Sync { body: TokenStream, wrapped: bool },
    /// A fn whose body ends in `Box::pin(async move { .. })` (what
    /// `#[async_trait]` generates, or a hand-written boxed future): the
    /// lock is taken inside that future, when it runs.
    Future(Box<FutureBody>),
}

pub(crate) struct FutureBody {
    /// The fn body's statements before the `Box::pin(..)`.
    pub(crate) before: Vec<Stmt>,
    /// `Box::pin` as written.
    pub(crate) pin: Expr,
    /// `#[async_trait]`'s declarations at the top of the async block
    /// (`let __self = self;`, `let (a, b) = __arg1;`): the key is rendered
    /// after them, inside the future. Empty for a hand-written future,
    /// whose key is rendered before it (so the future borrows nothing).
    pub(crate) decls: Vec<Stmt>,
    /// The async block's other statements: the body.
    pub(crate) rest: Vec<Stmt>,
}

/// What the body's value is.
pub(crate) enum Output {
    /// A type a `let` can name (`()` for none).
    Named(Box<Type>),
    /// `impl IntoResponse` (axum) or `impl Responder` (actix-web).
    Web(Web),
    /// Another type with an `impl` inside: it cannot be named.
    Opaque,
}

/// The web framework of a handler's response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Web {
    Axum,
    Actix,
}

/// When the finish is confirmed by Redis before the fn returns.
pub(crate) enum Confirm {
    Always,
    Never,
    /// When the value is a web response (decided by its type at run time
    /// of the compiler: autoref on the runtime's `Probe`).
    Probe,
}

/// A parameter binding the call owns, dropped under the lock.
pub(crate) struct Owned {
    /// Its `#[cfg]`s.
    pub(crate) cfgs: Vec<Attribute>,
    pub(crate) ident: Ident,
    /// Declared `mut` (the inline sync form rebinds it `mut`).
    pub(crate) mutable: bool,
    /// A `_` the expansion named: used with its own (hidden) identifier.
    pub(crate) hidden: bool,
}

pub(crate) fn analyse(args: Args, item: ItemFn) -> syn::Result<Plan> {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        inner_attrs,
        body,
    } = item;
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
    let needs_value = args.cooldown.is_some() || args.replay.is_some();
    let mut bindings = Bindings::of(&sig);
    let shape = shape_of(&sig, body, needs_value, &mut bindings);
    let key = Template::parse(&args.key, &bindings).map_err(|error| match &shape {
        // `#[tracing::instrument]` ran first and wrapped the body that
        // `#[async_trait]` made: its declarations are out of reach.
        Shape::Future(future) if future.decls.is_empty() && is_async_trait(&sig) => {
            syn::Error::new(
                error.span(),
                format!("{error}; with #[async_trait], put #[debounce] above #[tracing::instrument] (or any attribute that rewrites the body)"),
            )
        }
        _ => error,
    })?;
    let fingerprint = args
        .fingerprint
        .as_ref()
        .map(|fingerprint| Template::parse(fingerprint, &bindings))
        .transpose()?;
    let return_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let output = match &shape {
        Shape::Future(_) => future_output(&sig.output),
        _ => output_of(&sig.output),
    };
    let either = args.busy.is_none() && matches!(output, Output::Web(_));
    let mut shape = shape;
    if let Shape::Sync { wrapped, .. } = &mut shape {
        // In a closure: what an `impl Trait` value is (a future?) is then
        // checked on the value, and a `self` taken by value is dropped in
        // the closure, under the lock.
        *wrapped |= either || matches!(output, Output::Opaque) || takes_self(&sig);
    }
    check(&args, &attrs, &sig, &shape, &output)?;
    let asynchronous = !matches!(shape, Shape::Sync { .. });
    let confirm = match args.confirm {
        Some(true) => Confirm::Always,
        Some(false) => Confirm::Never,
        None if asynchronous && names_web_impl(&sig.output) => Confirm::Always,
        None => match &output {
            Output::Named(ty) if asynchronous && !borrows_any(&sig) && probeable(ty, &sig) => {
                Confirm::Probe
            }
            _ => Confirm::Never,
        },
    };
    let owned = match &mut shape {
        Shape::Sync { wrapped: false, .. } => owned_params(&mut sig, true),
        Shape::Sync { .. } | Shape::Async(_) => owned_params(&mut sig, false),
        Shape::Future(future) => {
            let mut owned = Vec::new();
            for decl in &mut future.decls {
                declared(decl, &mut owned);
            }
            owned
        }
    };
    // The return type as written, after the module's path (prepended in
    // the expansion): stable across compilers, and a same-named type of
    // another module is not read as this one's.
    let stored_as = format!(
        " -> {}",
        match &sig.output {
            ReturnType::Default => "()".to_owned(),
            ReturnType::Type(_, ty) => spelled(ty.to_token_stream()),
        }
    );
    Ok(Plan {
        args,
        attrs,
        vis,
        sig,
        inner_attrs,
        shape,
        output,
        return_span,
        key,
        fingerprint,
        either,
        confirm,
        owned,
        stored_as,
        self_alias: bindings.self_alias().cloned(),
    })
}

/// How the body runs; a returned future's declarations (`#[async_trait]`'s)
/// add the names they bind to what a key may name.
fn shape_of(
    sig: &Signature,
    body: TokenStream,
    needs_value: bool,
    bindings: &mut Bindings,
) -> Shape {
    if sig.asyncness.is_some() {
        return Shape::Async(body);
    }
    let Some(future) = future_body(sig, &body) else {
        return Shape::Sync {
            body,
            wrapped: needs_value,
        };
    };
    for decl in &future.decls {
        if let Stmt::Local(local) = decl {
            if let (Pat::Ident(alias), Some(init)) = (&local.pat, &local.init)
                && matches!(&*init.expr, Expr::Path(path) if path.path.is_ident("self"))
            {
                bindings.alias_self(alias.ident.clone());
            } else {
                bindings.add(&local.pat);
            }
        }
    }
    Shape::Future(Box::new(future))
}

/// The combinations of shape, output and arguments that cannot work.
fn check(
    args: &Args,
    attrs: &[Attribute],
    sig: &Signature,
    shape: &Shape,
    output: &Output,
) -> syn::Result<()> {
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    if args.replay.is_some() {
        match output {
            Output::Web(Web::Actix) => {
                return Err(syn::Error::new_spanned(
                    ty,
                    "`replay` of an actix-web response needs the return type `HttpResponse`: an `impl Responder` becomes a response only with the request",
                ));
            }
            Output::Web(Web::Axum) if !matches!(shape, Shape::Async(_)) => {
                return Err(syn::Error::new_spanned(
                    ty,
                    "`replay` of a response needs an `async fn` (its body is read to be stored)",
                ));
            }
            Output::Opaque => {
                return Err(syn::Error::new_spanned(
                    &sig.output,
                    "`replay` stores the function's output and needs a return type that can be named, not `impl Trait`",
                ));
            }
            _ => {}
        }
        if let Some(ty) = ty
            && let Some(generic) = names_generic(ty.to_token_stream(), sig)
        {
            return Err(syn::Error::new_spanned(
                generic,
                "`replay` stores a result by its return type as written, and this one stands for a different type in each use (`Self`, a type parameter): return a concrete type",
            ));
        }
    }
    if let Shape::Sync { wrapped: true, .. } = shape
        && let Some(attr) = attrs
            .iter()
            .find(|attr| attr.path().is_ident("track_caller"))
    {
        return Err(syn::Error::new_spanned(
            attr,
            "#[track_caller] on a fn whose body runs in a closure (with `cooldown` or `replay`, an `impl Trait` return or a `self` taken by value): `Location::caller()` would report this fn, not its caller; remove #[track_caller], or read the location before the call",
        ));
    }
    if let Shape::Future(future) = shape
        && future.decls.is_empty()
        && future::is_async_trait(sig)
    {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "another attribute rewrote the body #[async_trait] made (`#[tracing::instrument]` above #[debounce]?): put #[debounce] first, right under the `impl`'s #[async_trait]",
        ));
    }
    if let Shape::Future(future) = shape
        && let Some(first) = future
            .before
            .iter()
            .find(|stmt| !matches!(stmt, Stmt::Item(_)))
    {
        return Err(syn::Error::new_spanned(
            first,
            "this runs when the future is made, before the lock is taken: move it into the `async move` block, where the lock covers it",
        ));
    }
    if let (Shape::Sync { .. } | Shape::Async(_), Some(ty)) = (shape, ty)
        && returns_future(ty)
    {
        return Err(syn::Error::new_spanned(
            ty,
            "#[debounce] on a fn that returns a future needs `async fn`, or a body that ends in `Box::pin(async move { .. })`: locking around a returned future would release before it runs",
        ));
    }
    Ok(())
}
