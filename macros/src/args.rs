//! The attribute's arguments (see `VALID`), and the combinations that make
//! no sense.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitFloat, LitInt, LitStr, Path, Token};

const VALID: &str = "key, ttl, busy, using, on_error, wait, cooldown, replay, replay_errors, fingerprint, renew, max_hold, fence, confirm, crate";

pub(crate) struct Args {
    pub(crate) key: LitStr,
    pub(crate) ttl: Millis,
    pub(crate) busy: Option<Expr>,
    pub(crate) using: Option<Expr>,
    pub(crate) on_error: OnError,
    /// `wait = "2s"`: how long a caller waits for the holder.
    pub(crate) wait: Option<Millis>,
    /// `cooldown = "5m"`: how long the key stays taken after success.
    pub(crate) cooldown: Option<Millis>,
    /// `replay = "24h"`: how long a result is kept for duplicates.
    pub(crate) replay: Option<Millis>,
    /// `replay_errors`: store `Err` results too.
    pub(crate) replay_errors: Option<Span>,
    /// `fingerprint = "{order.cart}"`: what a replayed request must match.
    pub(crate) fingerprint: Option<LitStr>,
    /// `renew`: a watchdog keeps the lease while the body runs.
    pub(crate) renew: Option<Span>,
    /// `max_hold = "10m"`: renewal stops after this.
    pub(crate) max_hold: Option<Millis>,
    /// `fence`: a fencing token with the lock.
    pub(crate) fence: Option<Span>,
    /// `confirm` / `confirm = true`: the release is confirmed by Redis
    /// before the fn returns; `confirm = false`: never; unset: when an
    /// async fn's value is a web response.
    pub(crate) confirm: Option<bool>,
    pub(crate) krate: Option<Path>,
}

/// A duration argument in milliseconds (never zero), and where it was written.
#[derive(Clone, Copy)]
pub(crate) struct Millis {
    pub(crate) ms: u64,
    pub(crate) span: Span,
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

#[derive(Default)]
struct Parsed {
    key: Option<LitStr>,
    ttl: Option<Millis>,
    busy: Option<Expr>,
    using: Option<Expr>,
    on_error: Option<OnError>,
    wait: Option<Millis>,
    cooldown: Option<Millis>,
    replay: Option<Millis>,
    replay_errors: Option<Span>,
    fingerprint: Option<LitStr>,
    renew: Option<Span>,
    max_hold: Option<Millis>,
    fence: Option<Span>,
    confirm: Option<bool>,
    krate: Option<Path>,
}

impl Parsed {
    /// One `name = value` (or a bare flag).
    fn argument(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let (name, span) = if input.peek(Token![crate]) {
            ("crate".to_owned(), input.parse::<Token![crate]>()?.span)
        } else {
            let ident = input.call(Ident::parse_any)?;
            (ident.to_string(), ident.span())
        };
        let flag = |slot: &mut Option<Span>| -> syn::Result<()> {
            if input.peek(Token![=]) {
                let eq: Token![=] = input.parse()?;
                return Err(syn::Error::new(
                    eq.span,
                    format!("`{name}` is a flag and takes no value: write `{name}` alone"),
                ));
            }
            set_once(slot, span, span, &name)
        };
        match name.as_str() {
            "renew" => return flag(&mut self.renew),
            "fence" => return flag(&mut self.fence),
            // A flag, or `= true` / `= false`.
            "confirm" if !input.peek(Token![=]) => {
                return set_once(&mut self.confirm, true, span, &name);
            }
            "replay_errors" => return flag(&mut self.replay_errors),
            "key" | "ttl" | "busy" | "using" | "on_error" | "wait" | "cooldown" | "replay"
            | "fingerprint" | "max_hold" | "confirm" | "crate" => {}
            _ => {
                return Err(syn::Error::new(
                    span,
                    format!("unknown argument `{name}`; expected one of: {VALID}"),
                ));
            }
        }
        input.parse::<Token![=]>()?;
        match name.as_str() {
            "key" => set_once(&mut self.key, parse_key(input)?, span, &name),
            "fingerprint" => set_once(&mut self.fingerprint, parse_key(input)?, span, &name),
            "busy" => set_once(&mut self.busy, input.parse()?, span, &name),
            "using" => set_once(&mut self.using, input.parse()?, span, &name),
            "on_error" => set_once(&mut self.on_error, parse_on_error(input)?, span, &name),
            "confirm" => {
                let value: syn::LitBool = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`confirm` takes `true` or `false` (or stands alone, for `true`)",
                    )
                })?;
                set_once(&mut self.confirm, value.value, span, &name)
            }
            "crate" => {
                let path: LitStr = input.parse()?;
                set_once(&mut self.krate, path.parse::<Path>()?, span, &name)
            }
            _ => {
                let value = parse_duration_arg(input, &name)?;
                let slot = match name.as_str() {
                    "ttl" => &mut self.ttl,
                    "wait" => &mut self.wait,
                    "cooldown" => &mut self.cooldown,
                    "replay" => &mut self.replay,
                    _ => &mut self.max_hold,
                };
                set_once(slot, value, span, &name)
            }
        }
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut parsed = Parsed::default();
        while !input.is_empty() {
            parsed.argument(input)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        let key = parsed.key.take().ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `key = \"...\"`: the template of the lock key, e.g. `key = \"order:{id}\"`",
            )
        })?;
        let ttl = parsed.ttl.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `ttl = ...`: the lease, in seconds (`ttl = 30`) or with a unit (`ttl = \"250ms\"`)",
            )
        })?;
        check_combinations(&parsed, ttl)?;
        if let (Some(fingerprint), None) = (&parsed.fingerprint, parsed.replay) {
            return Err(syn::Error::new(
                fingerprint.span(),
                "`fingerprint` is stored with a replayed result and needs `replay = \"...\"`",
            ));
        }
        Ok(Args {
            key,
            ttl,
            busy: parsed.busy,
            using: parsed.using,
            on_error: parsed.on_error.unwrap_or(OnError::Reject),
            wait: parsed.wait,
            cooldown: parsed.cooldown,
            replay: parsed.replay,
            replay_errors: parsed.replay_errors,
            fingerprint: parsed.fingerprint,
            renew: parsed.renew,
            max_hold: parsed.max_hold,
            fence: parsed.fence,
            confirm: parsed.confirm,
            krate: parsed.krate,
        })
    }
}

/// Arguments that contradict each other, or mean nothing alone.
fn check_combinations(parsed: &Parsed, ttl: Millis) -> syn::Result<()> {
    if let Some(max_hold) = parsed.max_hold {
        if parsed.renew.is_none() {
            return Err(syn::Error::new(
                max_hold.span,
                "`max_hold` bounds renewal and needs `renew`: without it the lease ends at `ttl`",
            ));
        }
        if max_hold.ms < ttl.ms {
            return Err(syn::Error::new(
                max_hold.span,
                "`max_hold` is shorter than `ttl`: the first lease already outlasts it",
            ));
        }
    }
    if let Some(span) = parsed.replay_errors
        && parsed.replay.is_none()
    {
        return Err(syn::Error::new(
            span,
            "`replay_errors` needs `replay = \"...\"`: the window for which results are kept",
        ));
    }
    Ok(())
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
fn parse_duration_arg(input: ParseStream<'_>, name: &str) -> syn::Result<Millis> {
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

/// The longest duration taken, in milliseconds: 100 years. The runtime
/// refuses the same bound (`backend::MAX_MILLIS`): Redis and its Lua
/// scripts take every such value exactly.
const MAX_MILLIS: u64 = 36_525 * 24 * 3_600_000;

fn nonzero(ms: Option<u64>, span: Span, name: &str) -> syn::Result<Millis> {
    match ms {
        Some(0) => Err(syn::Error::new(
            span,
            format!("`{name}` must be longer than zero"),
        )),
        Some(ms) if ms <= MAX_MILLIS => Ok(Millis { ms, span }),
        Some(_) | None => Err(syn::Error::new(
            span,
            format!("`{name}` is too long: at most 100 years (\"36525d\")"),
        )),
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
    use super::{Args, parse_duration};

    /// `max_hold` may equal `ttl` (one lease, no renewal past it); only a
    /// shorter one is refused.
    #[test]
    fn max_hold_may_equal_the_ttl() {
        let args = |text: &str| syn::parse_str::<Args>(text).map(drop);
        assert!(args(r#"key = "k", ttl = "30s", renew, max_hold = "30s""#).is_ok());
        assert!(args(r#"key = "k", ttl = "30s", renew, max_hold = "29s""#).is_err());
        assert!(args(r#"key = "k", ttl = "30s", renew, max_hold = "31s""#).is_ok());
    }

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
