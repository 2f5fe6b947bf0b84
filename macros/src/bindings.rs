//! The names a function's parameters bind, destructured patterns included.

use syn::ext::IdentExt;
use syn::{FnArg, Ident, Pat, Signature};

/// What a key placeholder may name.
pub(crate) struct Bindings {
    names: Vec<Ident>,
    has_self: bool,
    /// What `self` is called where the key is rendered: `__self` inside
    /// the body `#[async_trait]` generates, after its `let __self = self;`.
    self_alias: Option<Ident>,
}

impl Bindings {
    pub(crate) fn of(sig: &Signature) -> Self {
        let mut bindings = Bindings {
            names: Vec::new(),
            has_self: false,
            self_alias: None,
        };
        // Const generics are values in scope too.
        for param in sig.generics.const_params() {
            bindings.names.push(param.ident.clone());
        }
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => bindings.has_self = true,
                FnArg::Typed(typed) => bindings.collect(&typed.pat),
            }
        }
        bindings
    }

    /// The names `pat` binds become placeholders too (a `let` the key is
    /// rendered after).
    pub(crate) fn add(&mut self, pat: &Pat) {
        self.collect(pat);
    }

    /// `self` is renamed to `alias` where the key is rendered.
    pub(crate) fn alias_self(&mut self, alias: Ident) {
        self.self_alias = Some(alias);
    }

    /// The binding a placeholder root names: `type` and `r#type` both name
    /// `r#type`. Its own identifier, so that the key resolves it as the
    /// signature does (a `macro_rules!` that declares the parameter too).
    pub(crate) fn get(&self, name: &str) -> Option<&Ident> {
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.names.iter().rev().find(|ident| ident.unraw() == name)
    }

    fn collect(&mut self, pat: &Pat) {
        let mut pat = pat.clone();
        walk(&mut pat, &mut |pat| {
            if let Pat::Ident(ident) = pat {
                if ident.ident == "self" {
                    self.has_self = true;
                } else {
                    self.names.push(ident.ident.clone());
                }
            }
        });
    }

    pub(crate) fn has_self(&self) -> bool {
        self.has_self
    }

    /// A binding whose name differs from `name` only in case: `{ID}` for
    /// a parameter `id` is a typo, not a constant.
    pub(crate) fn like(&self, name: &str) -> Option<&Ident> {
        self.names
            .iter()
            .find(|ident| ident.unraw().to_string().eq_ignore_ascii_case(name))
    }

    /// `__self` after `#[async_trait]`'s renaming, else `None` (`self`).
    pub(crate) fn self_alias(&self) -> Option<&Ident> {
        self.self_alias.as_ref()
    }

    /// "the parameters in scope are: a, b" for error messages.
    pub(crate) fn describe(&self) -> String {
        let mut names: Vec<String> = self.names.iter().map(ToString::to_string).collect();
        if self.has_self {
            names.insert(0, "self".into());
        }
        if names.is_empty() {
            "the function has no parameters to put in a key".into()
        } else {
            format!("the parameters in scope are: {}", names.join(", "))
        }
    }
}

/// Visits `pat` and every pattern inside it that binds names (an
/// or-pattern's first case: every case binds the same names).
pub(crate) fn walk(pat: &mut Pat, visit: &mut dyn FnMut(&mut Pat)) {
    visit(pat);
    match pat {
        Pat::Ident(ident) => {
            if let Some((_, sub)) = &mut ident.subpat {
                walk(sub, visit);
            }
        }
        Pat::Tuple(tuple) => tuple.elems.iter_mut().for_each(|p| walk(p, visit)),
        Pat::TupleStruct(tuple) => tuple.elems.iter_mut().for_each(|p| walk(p, visit)),
        Pat::Slice(slice) => slice.elems.iter_mut().for_each(|p| walk(p, visit)),
        Pat::Struct(strukt) => strukt
            .fields
            .iter_mut()
            .for_each(|field| walk(&mut field.pat, visit)),
        Pat::Reference(reference) => walk(&mut reference.pat, visit),
        Pat::Paren(paren) => walk(&mut paren.pat, visit),
        Pat::Or(or) => {
            if let Some(first) = or.cases.first_mut() {
                walk(first, visit);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::Bindings;

    fn names(sig: &str) -> Vec<String> {
        let sig: syn::Signature = syn::parse_str(sig).expect("a signature");
        let bindings = Bindings::of(&sig);
        bindings.names.iter().map(ToString::to_string).collect()
    }

    /// Every pattern a parameter can be written with binds its names:
    /// parenthesised, typed inside a pattern, or-patterns (by their first
    /// case), tuples, tuple structs, slices, structs, references, `@`.
    #[test]
    fn every_pattern_binds_its_names() {
        assert_eq!(
            names(
                "fn f((a): u32, (Ok(b) | Err(b)): Result<u8, u8>, (c, T(d)): (u8, T), \
                 [e, ..]: [u8; 2], S { f, g: h }: S, &i: &u8, j @ 1..=9: u8)"
            ),
            ["a", "b", "c", "d", "e", "f", "h", "i", "j"]
        );
    }
}
