//! The analysed plan of one `#[debounce]` fn: its shape, what its value
//! is, its key, and every check. All errors are found here, before any
//! code is generated, so generation cannot fail.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, Pat, PathArguments, ReturnType,
    Signature, Stmt, Type, TypeParamBound, Visibility, parse_quote,
};

use crate::args::Args;
use crate::bindings::{Bindings, walk};
use crate::item::ItemFn;
use crate::key::Template;

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
    let owned = match &shape {
        Shape::Sync { wrapped: false, .. } => owned_params(&mut sig, true),
        Shape::Sync { .. } | Shape::Async(_) => owned_params(&mut sig, false),
        Shape::Future(future) => future.decls.iter().flat_map(declared).collect(),
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
        && let Some(first) = future.before.first()
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

/// `Self` or one of the fn's type parameters, where a return type names it.
fn names_generic(tokens: TokenStream, sig: &Signature) -> Option<Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident)
            if ident == "Self" || sig.generics.type_params().any(|param| param.ident == ident) =>
        {
            Some(ident)
        }
        TokenTree::Group(group) => names_generic(group.stream(), sig),
        _ => None,
    })
}

/// Whether the receiver is taken by value (`self`, `self: Box<Self>`).
fn takes_self(sig: &Signature) -> bool {
    sig.receiver().is_some_and(by_value)
}

/// `self`, `mut self`, `self: Box<Self>`: not `&self` or `self: &Self`.
fn by_value(receiver: &syn::Receiver) -> bool {
    match &receiver.kind {
        syn::ReceiverKind::Value => true,
        syn::ReceiverKind::Typed(_, ty) => !matches!(ungroup(ty), Type::Reference(_)),
        _ => false,
    }
}

/// A return type that is a future where the compiler cannot tell: an
/// `impl Future` or `impl IntoFuture` anywhere in it (`Option<impl
/// Future>`, behind parentheses or a macro's group), or a boxed `dyn
/// Future` (which is no `Future` itself unless pinned). A named future type
/// is refused by its type instead (see `expand::future_check`).
fn returns_future(ty: &Type) -> bool {
    fn scan(tokens: TokenStream, after_impl: &mut bool) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) if ident == "impl" => {
                *after_impl = true;
                false
            }
            TokenTree::Ident(ident) => *after_impl && (ident == "Future" || ident == "IntoFuture"),
            TokenTree::Group(group) => scan(group.stream(), &mut false),
            TokenTree::Punct(punct) => {
                if matches!(punct.as_char(), ',' | '>') {
                    *after_impl = false;
                }
                false
            }
            TokenTree::Literal(_) => false,
        })
    }
    let boxed_dyn = match ungroup(ty) {
        Type::Path(path) => path.path.segments.last().is_some_and(|last| {
            last.ident == "Box"
                && matches!(&last.arguments, PathArguments::AngleBracketed(args)
                    if args.args.iter().any(|arg| matches!(arg,
                        GenericArgument::Type(Type::TraitObject(object))
                            if object.bounds.iter().any(names_future))))
        }),
        _ => false,
    };
    boxed_dyn || scan(ty.to_token_stream(), &mut false)
}

/// `Future<..>` / `IntoFuture<..>`.
fn names_future(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(bound)
        if bound.path.segments.last().is_some_and(|last| last.ident == "Future" || last.ident == "IntoFuture"))
}

/// A body that ends in `Box::pin(async move { .. })`, taken apart.
fn future_body(sig: &Signature, body: &TokenStream) -> Option<FutureBody> {
    let mut before = (|input: ParseStream<'_>| Block::parse_within(input))
        .parse2(body.clone())
        .ok()?;
    let Some(Stmt::Expr(Expr::Call(call), None)) = before.last() else {
        return None;
    };
    let is_pin = matches!(&*call.func, Expr::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident == "pin"));
    if !is_pin || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(inner)) = call.args.first() else {
        return None;
    };
    let pin = (*call.func).clone();
    let mut stmts = inner.block.stmts.clone();
    before.pop();
    // `#[async_trait]` declares the parameters at the top of the block.
    let decls = if is_async_trait(sig) {
        let count = stmts.iter().take_while(|stmt| is_decl(stmt)).count();
        stmts.drain(..count).collect()
    } else {
        Vec::new()
    };
    Some(FutureBody {
        before,
        pin,
        decls,
        rest: stmts,
    })
}

/// `#[async_trait]` names the lifetime of the future it makes
/// `'async_trait`.
fn is_async_trait(sig: &Signature) -> bool {
    sig.generics
        .lifetimes()
        .any(|param| param.lifetime.ident == "async_trait")
}

/// One of `#[async_trait]`'s declarations: `let x = x;`, `let __self =
/// self;`, `let (a, b) = { let __arg1 = __arg1; __arg1 };`, or its
/// `if let Some(__ret) = None::<Ret> { return __ret; }` type hint.
fn is_decl(stmt: &Stmt) -> bool {
    /// The identifier a path expression is, if it is one.
    fn ident(expr: &Expr) -> Option<&Ident> {
        match expr {
            Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
            _ => None,
        }
    }
    let is_arg = |ident: &Ident| ident.to_string().starts_with("__arg");
    match stmt {
        Stmt::Local(local) => {
            let Some(init) = local.init.as_ref().filter(|init| init.diverge.is_none()) else {
                return false;
            };
            let bound = match &local.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some(&pat.ident),
                _ => None,
            };
            match &*init.expr {
                // `let __self = self;`
                Expr::Path(path) if path.path.is_ident("self") => {
                    bound.is_some_and(|bound| bound == "__self")
                }
                // `let x = x;`, `let __arg1 = __arg1;`
                expr @ Expr::Path(_) => bound.is_some_and(|bound| ident(expr) == Some(bound)),
                // `let (a, b) = { let __arg1 = __arg1; __arg1 };`
                Expr::Block(block) => match block.block.stmts.as_slice() {
                    [Stmt::Local(inner), Stmt::Expr(last, None)] => {
                        let inner_bound = match &inner.pat {
                            Pat::Ident(pat) => Some(&pat.ident),
                            _ => None,
                        };
                        inner_bound.is_some_and(|arg| {
                            is_arg(arg)
                                && inner.init.as_ref().and_then(|init| ident(&init.expr)) == Some(arg)
                                && ident(last) == Some(arg)
                        })
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        // `if let Some(__ret) = None::<Ret> { return __ret; }`
        Stmt::Expr(Expr::If(expr), _) => match &*expr.cond {
            Expr::Let(cond) => cond
                .pat
                .to_token_stream()
                .into_iter()
                .any(|tree| matches!(tree, TokenTree::Group(group) if group.stream().to_string() == "__ret")),
            _ => false,
        },
        _ => false,
    }
}

/// The bindings one of `#[async_trait]`'s declarations makes.
fn declared(stmt: &Stmt) -> Vec<Owned> {
    let mut owned = Vec::new();
    if let Stmt::Local(local) = stmt {
        let cfgs = cfgs(&local.attrs);
        let mut pat = local.pat.clone();
        walk(&mut pat, &mut |pat| {
            if let Pat::Ident(ident) = pat
                && ident.by_ref.is_none()
            {
                owned.push(Owned {
                    cfgs: cfgs.clone(),
                    ident: ident.ident.clone(),
                    mutable: false,
                    hidden: false,
                });
            }
        });
    }
    owned
}

fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// The bindings of parameters passed by value (not references), which the
/// call owns: a `_` in them is named (hidden), so it can be moved under the
/// lock too; with `strip_mut`, their `mut` moves to the rebinding.
fn owned_params(sig: &mut Signature, strip_mut: bool) -> Vec<Owned> {
    let mut owned = Vec::new();
    for input in &mut sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                if by_value(receiver) {
                    owned.push(Owned {
                        cfgs: Vec::new(),
                        ident: Ident::new("self", receiver.self_token.span),
                        mutable: false,
                        hidden: false,
                    });
                }
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        if matches!(ungroup(&typed.ty), Type::Reference(_)) {
            continue;
        }
        let cfgs = cfgs(&typed.attrs);
        walk(&mut typed.pat, &mut |pat| {
            if matches!(pat, Pat::Wild(_)) {
                let ident = Ident::new(
                    &format!("__debounce_part{}", owned.len()),
                    Span::mixed_site(),
                );
                *pat = parse_quote!(#ident);
                owned.push(Owned {
                    cfgs: cfgs.clone(),
                    ident,
                    mutable: false,
                    hidden: true,
                });
            } else if let Pat::Ident(ident) = pat
                && ident.by_ref.is_none()
                && ident.ident != "self"
            {
                owned.push(Owned {
                    cfgs: cfgs.clone(),
                    ident: ident.ident.clone(),
                    mutable: ident.mutability.is_some(),
                    hidden: false,
                });
                if strip_mut {
                    ident.mutability = None;
                }
            }
        });
    }
    owned
}

/// What an `async fn`'s or a plain fn's body evaluates to.
fn output_of(output: &ReturnType) -> Output {
    let ty = match output {
        ReturnType::Default => return Output::Named(Box::new(parse_quote!(()))),
        ReturnType::Type(_, ty) => ungroup(ty),
    };
    if let Type::ImplTrait(impl_trait) = ty {
        let names = |trait_name: &str| {
            impl_trait.bounds.iter().any(|bound| {
                matches!(bound, TypeParamBound::Trait(bound)
                    if bound.path.segments.last().is_some_and(|last| last.ident == trait_name))
            })
        };
        if names("IntoResponse") {
            return Output::Web(Web::Axum);
        }
        if names("Responder") {
            return Output::Web(Web::Actix);
        }
    }
    if mentions_impl(ty.to_token_stream()) {
        Output::Opaque
    } else {
        Output::Named(Box::new(ty.clone()))
    }
}

/// What the future a fn returns resolves to: `T` of `impl Future<Output =
/// T>` or `Pin<Box<dyn Future<Output = T>>>`, else the projection
/// `<R as Future>::Output` of a nameable `R` (an alias).
fn future_output(output: &ReturnType) -> Output {
    let ReturnType::Type(_, ty) = output else {
        return Output::Opaque;
    };
    let ty = ungroup(ty);
    let written = match ty {
        Type::ImplTrait(impl_trait) => impl_trait.bounds.iter().find_map(|bound| match bound {
            TypeParamBound::Trait(bound) => path_output(&bound.path),
            _ => None,
        }),
        _ => boxed_output(ty),
    };
    match written {
        Some(inner) if !mentions_impl(inner.to_token_stream()) => Output::Named(Box::new(inner)),
        Some(_) => Output::Opaque,
        None if mentions_impl(ty.to_token_stream()) => Output::Opaque,
        None => Output::Named(Box::new(
            parse_quote!(<#ty as ::core::future::Future>::Output),
        )),
    }
}

/// `T` of `Pin<Box<dyn Future<Output = T> + ..>>`.
fn boxed_output(ty: &Type) -> Option<Type> {
    match ungroup(ty) {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .and_then(|last| match &last.arguments {
                PathArguments::AngleBracketed(args)
                    if last.ident == "Pin" || last.ident == "Box" =>
                {
                    args.args.iter().find_map(|arg| match arg {
                        GenericArgument::Type(inner) => boxed_output(inner),
                        _ => None,
                    })
                }
                _ => None,
            }),
        Type::TraitObject(object) => object.bounds.iter().find_map(|bound| match bound {
            TypeParamBound::Trait(bound) => path_output(&bound.path),
            _ => None,
        }),
        Type::Paren(paren) => boxed_output(&paren.elem),
        _ => None,
    }
}

/// `T` of a `Future<Output = T>` bound.
fn path_output(path: &syn::Path) -> Option<Type> {
    let last = path.segments.last()?;
    if last.ident != "Future" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
        _ => None,
    })
}

fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        ty => ty,
    }
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

/// Whether the return type names `impl IntoResponse` or `impl Responder`
/// anywhere (`Result<impl IntoResponse, AppError>` too): a response by its
/// spelling, whose release is confirmed.
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

/// Whether any parameter (the receiver too) is or holds a reference or a
/// lifetime: the return type may then hide an elided one (`Cow<str>`), and
/// is not probed.
fn borrows_any(sig: &Signature) -> bool {
    fn borrows(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Punct(punct) => matches!(punct.as_char(), '\'' | '&'),
            TokenTree::Group(group) => borrows(group.stream()),
            _ => false,
        })
    }
    sig.inputs.iter().any(|input| match input {
        FnArg::Receiver(receiver) => borrows(receiver.to_token_stream()),
        FnArg::Typed(typed) => borrows(typed.ty.to_token_stream()),
    })
}

/// Whether a return type can be probed for being a response: it names no
/// lifetime but `'static` (so `&'static str` is probed, `&'a str` is not),
/// no other reference, no `impl`/`dyn` type, `Self` or type parameter
/// (autoref picks impls regardless of lifetimes, and an uninferred type on
/// ambiguity: either a compile error).
fn probeable(ty: &Type, sig: &Signature) -> bool {
    fn scan(tokens: TokenStream, type_params: &[&Ident]) -> bool {
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
                ident != "impl"
                    && ident != "dyn"
                    && ident != "Self"
                    && !type_params.contains(&ident)
            }
            TokenTree::Group(group) => scan(group.stream(), type_params),
            TokenTree::Literal(_) => true,
        })
    }
    let type_params: Vec<&Ident> = sig
        .generics
        .type_params()
        .map(|param| &param.ident)
        .collect();
    scan(ty.to_token_stream(), &type_params)
}

/// A type's tokens as one stable string: single spaces only between two
/// words (`dyn Trait`), none elsewhere, whatever the compiler's printing.
pub(crate) fn spelled(tokens: TokenStream) -> String {
    fn write(tokens: TokenStream, out: &mut String, word_before: &mut bool) {
        for tree in tokens {
            match tree {
                // A macro's invisible group spells as its contents.
                TokenTree::Group(group) if group.delimiter() == proc_macro2::Delimiter::None => {
                    write(group.stream(), out, word_before);
                }
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                        proc_macro2::Delimiter::Bracket => ("[", "]"),
                        _ => ("{", "}"),
                    };
                    out.push_str(open);
                    *word_before = false;
                    write(group.stream(), out, word_before);
                    out.push_str(close);
                    *word_before = false;
                }
                TokenTree::Punct(punct) => {
                    out.push(punct.as_char());
                    if punct.as_char() == ',' {
                        out.push(' ');
                    }
                    *word_before = false;
                }
                TokenTree::Ident(ident) => {
                    if *word_before {
                        out.push(' ');
                    }
                    out.push_str(&ident.to_string());
                    *word_before = true;
                }
                TokenTree::Literal(literal) => {
                    if *word_before {
                        out.push(' ');
                    }
                    out.push_str(&literal.to_string());
                    *word_before = true;
                }
            }
        }
    }
    let mut out = String::new();
    write(tokens, &mut out, &mut false);
    out
}
