//! What a return type is: a nameable value, a web response, a future
//! (refused), and how it is spelled (`replay`'s identity).

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::{
    FnArg, GenericArgument, Ident, PathArguments, ReturnType, Signature, Type, TypeParamBound,
    parse_quote,
};

use super::{Output, Web};

/// A return type that is a future where the compiler cannot tell: an
/// `impl Future` or `impl IntoFuture` anywhere in it (`Option<impl
/// Future>`, behind parentheses or a macro's group), or a boxed `dyn
/// Future` (which is no `Future` itself unless pinned). A named future type
/// is refused by its type instead (see `expand::future_check`).
pub(super) fn returns_future(ty: &Type) -> bool {
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
pub(super) fn names_future(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(bound)
        if bound.path.segments.last().is_some_and(|last| last.ident == "Future" || last.ident == "IntoFuture"))
}

/// What an `async fn`'s or a plain fn's body evaluates to.
pub(super) fn output_of(output: &ReturnType) -> Output {
    let ty = match output {
        ReturnType::Default => return Output::Named(Box::new(parse_quote!(()))),
        ReturnType::Type(_, ty) => ungroup(ty),
    };
    // A macro's type cannot be read here: its value is checked instead.
    if matches!(ty, Type::Macro(_)) {
        return Output::Opaque;
    }
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
pub(super) fn future_output(output: &ReturnType) -> Output {
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
pub(super) fn boxed_output(ty: &Type) -> Option<Type> {
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
pub(super) fn path_output(path: &syn::Path) -> Option<Type> {
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

pub(super) fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        ty => ty,
    }
}

pub(super) fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

/// Whether the return type names `impl IntoResponse` or `impl Responder`
/// anywhere (`Result<impl IntoResponse, AppError>` too): a response by its
/// spelling, whose release is confirmed.
pub(super) fn names_web_impl(output: &ReturnType) -> bool {
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
pub(super) fn borrows_any(sig: &Signature) -> bool {
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
pub(super) fn probeable(ty: &Type, sig: &Signature) -> bool {
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

/// `Self` or one of the fn's type parameters, where a return type names it.
pub(super) fn names_generic(tokens: TokenStream, sig: &Signature) -> Option<Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident)
            if ident == "Self"
                || sig.generics.type_params().any(|param| param.ident == ident)
                || looks_generic(&ident) =>
        {
            Some(ident)
        }
        TokenTree::Group(group) => names_generic(group.stream(), sig),
        _ => None,
    })
}

/// A capital letter, with digits after it (`T`, `K2`): a type parameter of
/// the surrounding `impl` or trait, which the attribute cannot see.
fn looks_generic(ident: &Ident) -> bool {
    let name = ident.to_string();
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_digit())
}

/// The return type with each `impl Trait` in it written `_`, for an
/// annotation that lets `?` convert errors as the signature says
/// (`Result<_, AppError>`); `None` when nothing would be left to annotate
/// (the whole type is an `impl Trait`) or it cannot be read (a macro).
pub(crate) fn inferable(output: &ReturnType) -> Option<Type> {
    fn infer(ty: &mut Type) -> bool {
        match ty {
            Type::ImplTrait(_) => {
                *ty = parse_quote!(_);
                true
            }
            Type::Macro(_) => false,
            Type::Path(path) => {
                path.path
                    .segments
                    .iter_mut()
                    .all(|segment| match &mut segment.arguments {
                        PathArguments::AngleBracketed(args) => {
                            args.args.iter_mut().all(|arg| match arg {
                                GenericArgument::Type(ty) => infer(ty),
                                _ => true,
                            })
                        }
                        _ => true,
                    })
            }
            Type::Tuple(tuple) => tuple.elems.iter_mut().all(infer),
            Type::Array(array) => infer(&mut array.elem),
            Type::Slice(slice) => infer(&mut slice.elem),
            Type::Reference(reference) => infer(&mut reference.elem),
            Type::Paren(paren) => infer(&mut paren.elem),
            Type::Group(group) => infer(&mut group.elem),
            _ => true,
        }
    }
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let mut ty = (**ty).clone();
    (!matches!(ungroup(&ty), Type::ImplTrait(_) | Type::Macro(_)) && infer(&mut ty)).then_some(ty)
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::{ReturnType, Signature, Type, parse_quote};

    use super::{borrows_any, mentions_impl, names_web_impl, probeable, spelled};

    /// A type spells the same whatever the compiler's printing: one space
    /// between two words only, after a comma, and none inside a macro's
    /// invisible group (`<$t as Tr>` and `<u32 as Tr>` alike).
    #[test]
    fn spellings_are_stable() {
        assert_eq!(
            spelled(quote!(Result<(u32, [u8; 2]), Box<dyn Error + Send>>)),
            "Result<(u32, [u8;2]), Box<dyn Error+Send>>"
        );
        let group = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!(u32));
        assert_eq!(spelled(quote!(<#group as Tr>::Out)), "<u32 as Tr>::Out");
        assert_eq!(spelled(quote!(dyn #group)), "dyn u32");
    }

    /// `impl` anywhere in a type, nested in any group, and nowhere else.
    #[test]
    fn impl_is_found_at_any_depth() {
        assert!(mentions_impl(quote!(impl Display)));
        assert!(mentions_impl(quote!(Result<Vec<(u8, impl Display)>, E>)));
        assert!(mentions_impl(quote!([impl Display; 2])));
        assert!(!mentions_impl(quote!(Result<Implemented, E>)));
        assert!(!mentions_impl(quote!(Box<dyn Display>)));
        assert!(!mentions_impl(quote!(r#impl::Thing)));
    }

    /// A response by its spelling: `impl IntoResponse` or `impl Responder`
    /// in the bound list right after an `impl`, at any depth; the names
    /// elsewhere (a path, another bound list, after a `,` or `>`) are not.
    #[test]
    fn web_impls_are_found_by_spelling() {
        let web = |output: ReturnType| names_web_impl(&output);
        assert!(web(parse_quote!(-> impl IntoResponse)));
        assert!(web(parse_quote!(-> impl Responder)));
        assert!(web(parse_quote!(-> impl Send + IntoResponse)));
        assert!(web(parse_quote!(-> Result<impl IntoResponse, AppError>)));
        assert!(web(parse_quote!(-> (StatusCode, impl IntoResponse))));
        assert!(web(
            parse_quote!(-> Either<u8, impl axum::response::IntoResponse>)
        ));
        assert!(!web(parse_quote!()));
        assert!(!web(parse_quote!(-> IntoResponse)));
        assert!(!web(parse_quote!(-> Box<dyn IntoResponse>)));
        assert!(!web(parse_quote!(-> Result<impl Display, IntoResponse>)));
        assert!(!web(
            parse_quote!(-> Either<impl Iterator<Item = u8>, Responder>)
        ));
        assert!(!web(parse_quote!(-> (impl Display, Vec<Responder>))));
        assert!(!web(parse_quote!(-> impl Display)));
    }

    /// A parameter or receiver that is or holds a reference or a lifetime.
    #[test]
    fn borrowing_parameters_are_found() {
        let sig = |sig: Signature| borrows_any(&sig);
        assert!(sig(parse_quote!(fn f(&self))));
        assert!(sig(parse_quote!(fn f(&mut self, id: u64))));
        assert!(sig(parse_quote!(fn f(self: &Arc<Self>))));
        assert!(sig(parse_quote!(fn f(id: u64, name: &str))));
        assert!(sig(parse_quote!(fn f(name: Cow<'_, str>))));
        assert!(sig(parse_quote!(fn f(names: Vec<(u8, &'static str)>))));
        assert!(!sig(parse_quote!(fn f(self))));
        assert!(!sig(parse_quote!(fn f(self: Arc<Self>, id: u64))));
        assert!(!sig(parse_quote!(fn f(id: u64, names: Vec<String>))));
        assert!(!sig(parse_quote!(fn f())));
    }

    /// What may be probed for being a response: no lifetime but
    /// `'static`, no other reference, no `impl`, `dyn`, `Self` or type
    /// parameter, at any depth.
    #[test]
    fn probeable_types() {
        let sig: Signature = parse_quote!(fn f<'a, T: Clone, const N: usize>(t: T));
        let probe = |ty: Type| probeable(&ty, &sig);
        assert!(probe(parse_quote!(String)));
        assert!(probe(parse_quote!(&'static str)));
        assert!(probe(parse_quote!(Result<Json<Vec<u8>>, AppError>)));
        assert!(probe(parse_quote!([u8; 4])));
        assert!(probe(parse_quote!((StatusCode, &'static [u8]))));
        assert!(probe(parse_quote!(Cow<'static, str>)));
        assert!(probe(parse_quote!(Tee)));
        assert!(!probe(parse_quote!(&str)));
        assert!(!probe(parse_quote!(&'a str)));
        assert!(!probe(parse_quote!(Cow<'a, str>)));
        assert!(!probe(parse_quote!(Result<(u8, &'a str), E>)));
        assert!(!probe(parse_quote!(&mut String)));
        assert!(!probe(parse_quote!(Result<impl Display, E>)));
        assert!(!probe(parse_quote!(Box<dyn Display>)));
        assert!(!probe(parse_quote!(Vec<Self>)));
        assert!(!probe(parse_quote!(T)));
        assert!(!probe(parse_quote!(Option<Vec<T>>)));
    }
}
