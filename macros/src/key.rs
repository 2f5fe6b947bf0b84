//! The key template: `"checkout:{user.id}:{cart_id}"`, `{{` and `}}` escapes.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{Ident, Index, LitStr};

use crate::bindings::Bindings;

/// A template checked against the function's bindings, ready for
/// `format_args!`: its literal text as written, each placeholder's value
/// percent-encoded by the runtime's `Encoded` (see `runtime/src/key.rs`),
/// and a separator that no value contains between any two placeholders,
/// so that distinct values never render the same key.
pub(crate) struct Template {
    /// The format string, spanned like the user's literal: the literal
    /// text, and `{}` for each placeholder.
    format: LitStr,
    /// Each placeholder's own format (`{}` or `{:spec}`) and expression,
    /// in order.
    holes: Vec<(LitStr, TokenStream)>,
}

/// One `{...}` of the template.
struct Hole<'a> {
    /// Byte range of the placeholder's text (inside the braces) in the value.
    start: usize,
    path: Vec<&'a str>,
    spec: &'a str,
}

impl Template {
    pub(crate) fn parse(lit: &LitStr, bindings: &Bindings) -> syn::Result<Self> {
        let value = lit.value();
        if value.is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "the key is empty: name what makes a call a duplicate, e.g. `key = \"order:{id}\"`",
            ));
        }
        let mut format = String::with_capacity(value.len());
        let mut holes = Vec::new();
        let mut rest = value.as_str();
        let mut offset = 0;
        // The literal text since the last placeholder, and where it began.
        let mut gap: Option<(String, String, usize)> = None;
        while let Some(at) = rest.find(['{', '}']) {
            format.push_str(&rest[..at]);
            let brace = &rest[at..=at];
            let after = &rest[at + 1..];
            if let Some((text, ..)) = &mut gap {
                text.push_str(&rest[..at]);
            }
            if after.starts_with(brace) {
                // A literal brace is encoded like a value's, so that no
                // key ever holds one (it would move the hash tag).
                let encoded = if brace == "{" { "%7B" } else { "%7D" };
                format.push_str(encoded);
                if let Some((text, ..)) = &mut gap {
                    text.push_str(encoded);
                }
                rest = &after[1..];
                offset += at + 2;
                continue;
            }
            if brace == "}" {
                return Err(error_at(
                    lit,
                    offset + at,
                    1,
                    "unmatched `}` in the key; write `}}` for a literal brace",
                ));
            }
            let Some(close) = after.find('}') else {
                return Err(error_at(
                    lit,
                    offset + at,
                    after.len() + 1,
                    "unclosed `{` in the key; write `{{` for a literal brace",
                ));
            };
            let hole = parse_hole(&after[..close], offset + at + 1)
                .map_err(|why| error_at(lit, offset + at, close + 2, &why))?;
            let placeholder = &rest[at..at + close + 2];
            if !hole.spec.is_empty() {
                return Err(error_at(
                    lit,
                    offset + at,
                    close + 2,
                    &format!(
                        "`{placeholder}`: a format spec is not allowed in a key: padding, width \
                         and precision can make two different values render the same key; \
                         format the value before the call, or write `{{{}}}`",
                        hole.path.join(".")
                    ),
                ));
            }
            if let Some((text, previous, previous_at)) = &gap
                && !text.bytes().any(separator)
            {
                return Err(error_at(
                    lit,
                    *previous_at,
                    offset + at + close + 2 - previous_at,
                    &format!(
                        "`{previous}` and `{placeholder}` need a separator between them that no \
                         value contains (anything but letters, digits, `-`, `_`, `.`, `~`, `%` \
                         and braces), e.g. `{previous}:{placeholder}`: else two different \
                         argument lists could render the same key"
                    ),
                ));
            }
            holes.push((hole_format(lit), resolve(&hole, lit, bindings)?));
            format.push_str("{}");
            gap = Some((String::new(), placeholder.to_owned(), offset + at));
            rest = &after[close + 1..];
            offset += at + close + 2;
        }
        format.push_str(rest);
        if let Some(at) = value.find('%') {
            return Err(error_at(
                lit,
                at,
                1,
                "a literal `%` is not allowed in a key: values are percent-encoded, so a `%` in \
                 the template could be read as part of one (use another separator, e.g. `:`)",
            ));
        }
        Ok(Template {
            format: LitStr::new(&format, lit.span()),
            holes,
        })
    }

    /// `format_args!` of the template, each placeholder's value encoded by
    /// `<private>::Encoded`.
    pub(crate) fn render(&self, private: &TokenStream) -> TokenStream {
        let format = &self.format;
        let holes = self
            .holes
            .iter()
            .map(|(format, expr)| quote!(#private::Encoded(::core::format_args!(#format, #expr))));
        quote!(::core::format_args!(#format #(, #holes)*))
    }
}

/// Whether a literal byte between two placeholders tells them apart: no
/// value renders it. Values keep ASCII letters, digits and `-_.~` as they
/// are and write every other byte as `%XX`; literal braces are written as
/// `%7B`/`%7D` and a literal `%` is refused.
fn separator(byte: u8) -> bool {
    !(byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'%'))
}

/// A placeholder's own format string: `{}` (a spec is refused).
fn hole_format(lit: &LitStr) -> LitStr {
    LitStr::new("{}", lit.span())
}

fn parse_hole(text: &str, start: usize) -> Result<Hole<'_>, String> {
    let (path_text, spec) = text.split_once(':').unwrap_or((text, ""));
    if path_text.is_empty() {
        return Err(format!(
            "empty placeholder `{{{text}}}`: name a parameter, e.g. `{{id}}`"
        ));
    }
    let path: Vec<&str> = path_text.split('.').collect();
    let ident_like = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    };
    if !ident_like(path[0].strip_prefix("r#").unwrap_or(path[0])) {
        return Err(format!(
            "`{{{text}}}` is not a placeholder: write a parameter name, then field names, e.g. `{{user.id}}`"
        ));
    }
    for member in &path[1..] {
        // `resolve` makes an `Index` or an `Ident` of each member: a tuple
        // index must fit a `u32`, a field name must lex as an identifier
        // that is no keyword, `_` nor raw, or `Ident::new` panics (or the
        // key renders `user.type`).
        let index = !member.is_empty() && member.bytes().all(|b| b.is_ascii_digit());
        let valid = if index {
            member.parse::<u32>().is_ok()
        } else {
            syn::parse_str::<Ident>(member)
                .is_ok_and(|ident| ident == member && !member.starts_with("r#"))
        };
        if !valid {
            return Err(format!(
                "`{{{text}}}`: `{member}` is not a field name; placeholders take field paths only, e.g. `{{user.id}}`"
            ));
        }
    }
    Ok(Hole { start, path, spec })
}

/// The placeholder as an expression over the function's bindings: the
/// binding's own identifier (so it resolves as the signature's does, even
/// from inside a `macro_rules!`), located in the key literal.
fn resolve(hole: &Hole<'_>, lit: &LitStr, bindings: &Bindings) -> syn::Result<TokenStream> {
    let name = hole.path[0];
    let span = lit.span();
    let root = if name == "self" {
        if !bindings.has_self() {
            return Err(error_at(
                lit,
                hole.start,
                name.len(),
                "`{self...}` needs a method with a `self` receiver",
            ));
        }
        match bindings.self_alias() {
            Some(alias) => located(alias, span).into_token_stream(),
            None => syn::Token![self](span).into_token_stream(),
        }
    } else if let Some(binding) = bindings.get(name) {
        located(binding, span).into_token_stream()
    } else if let Some(binding) = bindings.like(name).filter(|_| is_constant(name)) {
        return Err(error_at(
            lit,
            hole.start,
            name.len(),
            &format!(
                "`{{{name}}}` would be a constant, not the parameter `{}`: write `{{{}}}` for the parameter",
                binding.unraw(),
                binding.unraw()
            ),
        ));
    } else if is_constant(name) {
        // A const or static, or a const generic of the impl (which the
        // attribute cannot see): the compiler resolves it.
        Ident::new(name, span).into_token_stream()
    } else {
        let known = bindings.describe();
        return Err(error_at(
            lit,
            hole.start,
            name.len(),
            &format!(
                "unknown placeholder `{name}` in the key; {known} (constants, in SCREAMING_CASE, are taken as they are)"
            ),
        ));
    };
    let mut expr = root;
    for member in &hole.path[1..] {
        let member = match member.parse::<u32>() {
            Ok(index) => Index { index, span }.into_token_stream(),
            Err(_) => Ident::new(member, span).into_token_stream(),
        };
        expr = quote!(#expr.#member);
    }
    Ok(expr)
}

/// `ident`, resolved as it is, located at `span`.
fn located(ident: &Ident, span: proc_macro2::Span) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(span.resolved_at(ident.span()));
    ident
}

/// A name written as constants are: `N`, `MAX_LEN`, `V2`.
fn is_constant(name: &str) -> bool {
    name.bytes().any(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// An error on `len` bytes at `at` inside the literal's value: spanned
/// there where the compiler can (nightly), on the whole literal otherwise.
fn error_at(lit: &LitStr, at: usize, len: usize, message: &str) -> syn::Error {
    let token = lit.token();
    let text = token.to_string();
    // Offsets map one to one only for a plain literal without escapes.
    let span = if text.starts_with('"') && !text.contains('\\') {
        token.subspan(at + 1..at + 1 + len)
    } else {
        None
    };
    syn::Error::new(span.unwrap_or_else(|| lit.span()), message)
}

#[cfg(test)]
mod tests {
    use super::{Template, parse_hole};
    use crate::bindings::Bindings;

    /// The text of the key literal `template` that its error is spanned on.
    /// Outside a compiler (unit tests) proc-macro2 keeps byte offsets, so
    /// the spans that a nightly compiler shows can be checked here.
    fn spanned(template: &str) -> String {
        let lit: syn::LitStr = syn::parse_str(&format!("{template:?}")).unwrap();
        let sig: syn::Signature = syn::parse_quote!(fn f(a: u32, b: u32));
        let error = Template::parse(&lit, &Bindings::of(&sig))
            .err()
            .unwrap_or_else(|| panic!("{template} parsed"));
        let opening = lit.span().byte_range().start + 1;
        let range = error.span().byte_range();
        template[range.start - opening..range.end - opening].to_owned()
    }

    /// Each error of a template points at what is wrong in it, after any
    /// literal braces and placeholders before it.
    #[test]
    fn errors_point_into_the_template() {
        for (template, at) in [
            ("ab}c", "}"),
            ("{{x}}ab}c", "}"),
            ("ab{c", "{c"),
            ("x{{y{1abc}", "{1abc}"),
            ("}}a{b:>5}", "{b:>5}"),
            ("k{a}abcdef{b}", "{a}abcdef{b}"),
            ("x:{a}{{{b}", "{a}{{{b}"),
            ("q:{a}:{zz}", "zz"),
            ("q:{a}:{self}", "self"),
            ("{{a}}:{b}%", "%"),
        ] {
            assert_eq!(spanned(template), at, "{template}");
        }
    }

    /// In a literal whose text is not its value (escapes, a raw string),
    /// offsets do not map: the error spans the whole literal.
    #[test]
    fn errors_in_escaped_or_raw_literals_span_the_literal() {
        let sig: syn::Signature = syn::parse_quote!(fn f(a: u32));
        for source in [r#""a\tb}""#, r#"r"ab}c""#, r#""\u{61}}""#] {
            let lit: syn::LitStr = syn::parse_str(source).unwrap();
            let error = Template::parse(&lit, &Bindings::of(&sig))
                .err()
                .unwrap_or_else(|| panic!("{source} parsed"));
            assert_eq!(
                error.span().byte_range(),
                lit.span().byte_range(),
                "{source}"
            );
        }
    }

    /// A placeholder's root and fields are identifiers: a digit first, or
    /// a character no identifier has, is "not a placeholder".
    #[test]
    fn placeholders_are_identifiers() {
        assert!(parse_hole("user_id", 0).is_ok());
        assert!(parse_hole("user.id", 0).is_ok());
        for bad in ["1abc", "a-b", "9"] {
            let why = parse_hole(bad, 0).err().unwrap_or_default();
            assert!(why.contains("is not a placeholder"), "{bad}: {why:?}");
        }
    }
}
