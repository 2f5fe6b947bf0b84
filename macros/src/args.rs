//! The attribute's arguments: `key`, `ttl`, `busy`, `using`, `on_error`, `cooldown`, `crate`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitFloat, LitInt, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(busy);
    syn::custom_keyword!(using);
    syn::custom_keyword!(on_error);
    syn::custom_keyword!(cooldown);
}

const VALID: &str = "key, ttl, busy, using, on_error, cooldown, crate";

pub(crate) struct Args {
    pub(crate) key: LitStr,
    pub(crate) ttl_ms: u64,
    pub(crate) busy: Option<Expr>,
    pub(crate) using: Option<Expr>,
    pub(crate) on_error: OnError,
    /// `cooldown = "5m"`: milliseconds the key stays taken after success.
    pub(crate) cooldown_ms: Option<u64>,
    pub(crate) krate: Option<Path>,
}

#[derive(Clone, Copy)]
pub(crate) enum OnError {
    Reject,
    Allow,
}

/// Stores an argument, or fails on its second occurrence, spanned there.
fn set_once<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{name}` set twice")));
    }
    *slot = Some(value);
    Ok(())
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut key = None;
        let mut ttl = None;
        let mut busy = None;
        let mut using = None;
        let mut on_error = None;
        let mut krate = None;
        let mut cooldown = None;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::key) {
                let name: kw::key = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(&mut key, parse_key(input)?, name.span, "key")?;
            } else if lookahead.peek(kw::ttl) {
                let name: kw::ttl = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(
                    &mut ttl,
                    parse_duration_arg(input, "ttl")?,
                    name.span,
                    "ttl",
                )?;
            } else if lookahead.peek(kw::busy) {
                let name: kw::busy = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(&mut busy, input.parse()?, name.span, "busy")?;
            } else if lookahead.peek(kw::using) {
                let name: kw::using = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(&mut using, input.parse()?, name.span, "using")?;
            } else if lookahead.peek(kw::on_error) {
                let name: kw::on_error = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(&mut on_error, parse_on_error(input)?, name.span, "on_error")?;
            } else if lookahead.peek(kw::cooldown) {
                let name: kw::cooldown = input.parse()?;
                input.parse::<Token![=]>()?;
                set_once(
                    &mut cooldown,
                    parse_duration_arg(input, "cooldown")?,
                    name.span,
                    "cooldown",
                )?;
            } else if lookahead.peek(Token![crate]) {
                let name: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let path: LitStr = input.parse()?;
                set_once(&mut krate, path.parse::<Path>()?, name.span, "crate")?;
            } else if input.peek(Ident) {
                let unknown: Ident = input.parse()?;
                return Err(syn::Error::new(
                    unknown.span(),
                    format!("unknown argument `{unknown}`; expected one of: {VALID}"),
                ));
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        let key = key.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `key = \"...\"`: the template of the lock key, e.g. `key = \"order:{id}\"`",
            )
        })?;
        let ttl_ms = ttl.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `ttl = ...`: the lease, in seconds (`ttl = 30`) or with a unit (`ttl = \"250ms\"`)",
            )
        })?;
        Ok(Args {
            key,
            ttl_ms,
            busy,
            using,
            on_error: on_error.unwrap_or(OnError::Reject),
            cooldown_ms: cooldown,
            krate,
        })
    }
}

fn parse_key(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let found: Expr = input.parse()?;
    Err(syn::Error::new_spanned(
        found,
        "`key` takes a string literal template, e.g. `key = \"order:{id}\"`",
    ))
}

fn parse_on_error(input: ParseStream<'_>) -> syn::Result<OnError> {
    let lit: LitStr = input.parse()?;
    match lit.value().as_str() {
        "reject" => Ok(OnError::Reject),
        "allow" => Ok(OnError::Allow),
        other => Err(syn::Error::new(
            lit.span(),
            format!("unknown on_error `{other}`; expected \"reject\" or \"allow\""),
        )),
    }
}

/// `ttl = 300` (seconds) or `ttl = "250ms" | "30s" | "5m" | "1h" | "1d"`,
/// units combinable (`"1m30s"`); the same for `cooldown`. The answer is in
/// milliseconds, never zero.
fn parse_duration_arg(input: ParseStream<'_>, name: &str) -> syn::Result<u64> {
    if input.peek(Token![-]) {
        let found: Expr = input.parse()?;
        return Err(syn::Error::new_spanned(
            found,
            format!("`{name}` cannot be negative"),
        ));
    }
    let lookahead = input.lookahead1();
    if lookahead.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        if !lit.suffix().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{name}` takes whole seconds without a suffix (`{name} = 30`), or a string with a unit (`{name} = \"250ms\"`)"
                ),
            ));
        }
        let seconds: u64 = lit.base10_parse()?;
        return nonzero(seconds.checked_mul(1000), lit.span(), name);
    }
    if lookahead.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return nonzero(
            parse_duration(&lit.value()).map_err(|why| syn::Error::new(lit.span(), why))?,
            lit.span(),
            name,
        );
    }
    if lookahead.peek(LitFloat) {
        let lit: LitFloat = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{name}` takes whole seconds; for fractions write a string with a unit, e.g. `{name} = \"1500ms\"`"
            ),
        ));
    }
    Err(lookahead.error())
}

fn nonzero(ms: Option<u64>, span: Span, name: &str) -> syn::Result<u64> {
    match ms {
        Some(0) => Err(syn::Error::new(
            span,
            format!("`{name}` must be longer than zero"),
        )),
        Some(ms) => Ok(ms),
        None => Err(syn::Error::new(span, format!("`{name}` is too long"))),
    }
}

/// `"1h30m"` -> `Some(5_400_000)`; `None` on overflow.
fn parse_duration(text: &str) -> Result<Option<u64>, String> {
    let invalid = || {
        format!(
            "invalid duration `{text}`: write a number and a unit (ms, s, m, h, d), e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\""
        )
    };
    let mut rest = text;
    let mut total: Option<u64> = Some(0);
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the duration is too long".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total = total.and_then(|t| number.checked_mul(factor).and_then(|n| t.checked_add(n)));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Some(250)));
        assert_eq!(parse_duration("30s"), Ok(Some(30_000)));
        assert_eq!(parse_duration("5m"), Ok(Some(300_000)));
        assert_eq!(parse_duration("1h30m"), Ok(Some(5_400_000)));
        assert_eq!(parse_duration("1d"), Ok(Some(86_400_000)));
        assert_eq!(parse_duration("0s"), Ok(Some(0)));
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err("the duration is too long".into())
        );
        assert_eq!(parse_duration("18446744073709551615d"), Ok(None));
        for bad in ["", "5", "s", "5 s", "5sec", "1.5s", "-5s", "5S"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
