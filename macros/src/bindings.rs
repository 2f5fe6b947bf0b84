//! The names a function's parameters bind, destructured patterns included.

use syn::{FnArg, Ident, Pat, Signature};

/// What a key placeholder may name.
pub(crate) struct Bindings {
    names: Vec<Ident>,
    has_self: bool,
}

impl Bindings {
    pub(crate) fn of(sig: &Signature) -> Self {
        let mut bindings = Bindings {
            names: Vec::new(),
            has_self: false,
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

    fn collect(&mut self, pat: &Pat) {
        match pat {
            Pat::Ident(ident) => {
                if ident.ident == "self" {
                    self.has_self = true;
                } else {
                    self.names.push(ident.ident.clone());
                }
                if let Some((_, sub)) = &ident.subpat {
                    self.collect(sub);
                }
            }
            Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| self.collect(p)),
            Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| self.collect(p)),
            Pat::Slice(slice) => slice.elems.iter().for_each(|p| self.collect(p)),
            Pat::Struct(strukt) => strukt.fields.iter().for_each(|f| self.collect(&f.pat)),
            Pat::Reference(reference) => self.collect(&reference.pat),
            Pat::Paren(paren) => self.collect(&paren.pat),
            // (A `Pat::Type` is never inside a parameter's pattern: a
            // signature's `pat: Type` is the `FnArg` itself.)
            // Every alternative binds the same names.
            Pat::Or(or) => {
                if let Some(first) = or.cases.first() {
                    self.collect(first);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|ident| ident == name)
    }

    pub(crate) fn has_self(&self) -> bool {
        self.has_self
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
