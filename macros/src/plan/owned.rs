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
