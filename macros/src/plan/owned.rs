//! The parameters a call owns (by value), dropped under the lock.

use proc_macro2::Span;
use syn::{Attribute, FnArg, Ident, Pat, Signature, Type, parse_quote};

use super::Owned;
use super::output::ungroup;
use crate::bindings::walk;

/// Whether the receiver is taken by value (`self`, `self: Box<Self>`).
pub(super) fn takes_self(sig: &Signature) -> bool {
    sig.receiver().is_some_and(by_value)
}

/// `self`, `mut self`, `self: Box<Self>`: not `&self` or `self: &Self`.
pub(super) fn by_value(receiver: &syn::Receiver) -> bool {
    match &receiver.kind {
        syn::ReceiverKind::Value => true,
        syn::ReceiverKind::Typed(_, ty) => !matches!(ungroup(ty), Type::Reference(_)),
        _ => false,
    }
}

pub(super) fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// The bindings of parameters passed by value (not references), which the
/// call owns: a `_` in them is named (hidden), so it can be moved under the
/// lock too; with `strip_mut`, their `mut` moves to the rebinding.
pub(super) fn owned_params(sig: &mut Signature, strip_mut: bool) -> Vec<Owned> {
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
        own(&mut typed.pat, &cfgs, strip_mut, &mut owned);
    }
    owned
}

/// The bindings `pat` makes by value, and a name for each `_` where one may
/// be given (top level, or in a tuple: a `_` inside a struct pattern may sit
/// in a type with `Drop`, from which nothing can be moved, and under `@` the
/// whole value is bound already). A name the expansion gave, or
/// `#[async_trait]`'s `__argN`, is used with its own (hidden) identifier.
pub(super) fn own(pat: &mut Pat, cfgs: &[Attribute], strip_mut: bool, owned: &mut Vec<Owned>) {
    fn name_wildcards(pat: &mut Pat, next: &mut usize) {
        match pat {
            Pat::Wild(_) => {
                let ident = Ident::new(&format!("__debounce_part{next}"), Span::mixed_site());
                *next += 1;
                *pat = parse_quote!(#ident);
            }
            Pat::Tuple(tuple) => tuple
                .elems
                .iter_mut()
                .for_each(|elem| name_wildcards(elem, next)),
            Pat::Paren(paren) => name_wildcards(&mut paren.pat, next),
            _ => {}
        }
    }
    // Numbered on from the names given so far, so no two are alike.
    let mut next = owned.len();
    name_wildcards(pat, &mut next);
    walk(pat, &mut |pat| {
        if let Pat::Ident(ident) = pat
            && ident.by_ref.is_none()
            && ident.ident != "self"
        {
            let name = ident.ident.to_string();
            owned.push(Owned {
                cfgs: cfgs.to_vec(),
                ident: ident.ident.clone(),
                mutable: ident.mutability.is_some(),
                hidden: name.starts_with("__debounce_part") || name.starts_with("__arg"),
            });
            if strip_mut {
                ident.mutability = None;
            }
        }
    });
}
