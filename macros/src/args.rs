//! The attribute's arguments: one table ([`ARGS`]) says which exist, what
//! each takes and what each needs; parsing, the combination checks and the
//! unknown-argument message all read it.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitFloat, LitInt, LitStr, Path, Token};

/// What an argument takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `= "template"`.
    Template,
    /// `= 30` (seconds) or `= "250ms"`.
    Duration,
    /// `= <expr>`.
    Expr,
    /// `= "reject" | "allow"`.
    OnError,
    /// Stands alone.
    Flag,
    /// Stands alone (for `true`), or `= true | false`.
    FlagOrBool,
    /// `= "path::to::crate"`.
    Path,
}

/// One argument of `#[debounce(...)]`.
pub(crate) struct Arg {
    pub(crate) name: &'static str,
    takes: Takes,
    /// Another argument it means nothing without, and why.
    needs: Option<(&'static str, &'static str)>,
}

/// Every argument, in the order the docs list them.
pub(crate) const ARGS: &[Arg] = &[
    arg("key", Takes::Template),
    arg("ttl", Takes::Duration),
    arg("busy", Takes::Expr),
    arg("using", Takes::Expr),
    arg("on_error", Takes::OnError),
    arg("wait", Takes::Duration),
    arg("cooldown", Takes::Duration),
    arg("replay", Takes::Duration),
    Arg {
        needs: Some((
            "replay",
            "`replay_errors` needs `replay = \"...\"`: the window for which results are kept",
        )),
        ..arg("replay_errors", Takes::Flag)
    },
    Arg {
        needs: Some((
            "replay",
            "`fingerprint` is stored with a replayed result and needs `replay = \"...\"`",
        )),
        ..arg("fingerprint", Takes::Template)
    },
    arg("renew", Takes::Flag),
    // Its rule with `renew` and `ttl` is the runtime's (`max_hold_error`),
    // evaluated at compile time by the expansion.
    arg("max_hold", Takes::Duration),
    arg("fence", Takes::Flag),
    arg("confirm", Takes::FlagOrBool),
    arg("crate", Takes::Path),
];

const fn arg(name: &'static str, takes: Takes) -> Arg {
    Arg {
        name,
        takes,
        needs: None,
    }
}

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

/// A duration argument in milliseconds, where it was written, and its name.
#[derive(Clone, Copy)]
pub(crate) struct Millis {
    pub(crate) ms: u64,
    pub(crate) span: Span,
    pub(crate) name: &'static str,
}

#[derive(Clone, Copy)]
pub(crate) enum OnError {
    Reject,
    Allow,
}

/// A parsed value, as its argument's [`Takes`] says.
enum Value {
    Template(LitStr),
    Duration(Millis),
    Expr(Expr),
    OnError(OnError),
    Flag,
    Bool(bool),
    Path(Path),
}

/// The arguments as written: each table entry's value and where its name is.
#[derive(Default)]
struct Parsed(Vec<(&'static Arg, Span, Value)>);

impl Parsed {
    /// One `name = value` (or a bare flag).
    fn argument(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let (name, span) = if input.peek(Token![crate]) {
            ("crate".to_owned(), input.parse::<Token![crate]>()?.span)
        } else {
            let ident = input.call(Ident::parse_any)?;
            (ident.to_string(), ident.span())
        };
        let Some(arg) = ARGS.iter().find(|arg| arg.name == name) else {
            let valid: Vec<&str> = ARGS.iter().map(|arg| arg.name).collect();
            return Err(syn::Error::new(
                span,
                format!(
                    "unknown argument `{name}`; expected one of: {}",
                    valid.join(", ")
                ),
            ));
        };
        if self.0.iter().any(|(seen, ..)| seen.name == arg.name) {
            return Err(syn::Error::new(span, format!("`{name}` set twice")));
        }
        let value = match arg.takes {
            Takes::Flag => {
                if input.peek(Token![=]) {
                    let eq: Token![=] = input.parse()?;
                    return Err(syn::Error::new(
                        eq.span,
                        format!("`{name}` is a flag and takes no value: write `{name}` alone"),
                    ));
                }
                Value::Flag
            }
            Takes::FlagOrBool if !input.peek(Token![=]) => Value::Bool(true),
            takes => {
                input.parse::<Token![=]>()?;
                match takes {
                    Takes::Template => Value::Template(parse_key(input, &name)?),
                    Takes::Duration => Value::Duration(parse_duration_arg(input, &name)?),
                    Takes::Expr => Value::Expr(input.parse()?),
                    Takes::OnError => Value::OnError(parse_on_error(input)?),
                    Takes::FlagOrBool => {
                        let value: syn::LitBool = input.parse().map_err(|error| {
                            syn::Error::new(
                                error.span(),
                                format!(
                                    "`{name}` takes `true` or `false` (or stands alone, for `true`)"
                                ),
                            )
                        })?;
                        Value::Bool(value.value)
                    }
                    Takes::Path | Takes::Flag => {
                        let path: LitStr = input.parse()?;
                        Value::Path(path.parse::<Path>()?)
                    }
                }
            }
        };
        self.0.push((arg, span, value));
        Ok(())
    }

    fn take(&mut self, name: &str) -> Option<(Span, Value)> {
        let at = self.0.iter().position(|(arg, ..)| arg.name == name)?;
        let (_, span, value) = self.0.remove(at);
        Some((span, value))
    }

    /// Arguments that mean nothing without another one.
    fn check_needs(&self) -> syn::Result<()> {
        for (arg, span, _) in &self.0 {
            if let Some((needed, why)) = arg.needs
                && !self.0.iter().any(|(other, ..)| other.name == needed)
            {
                return Err(syn::Error::new(*span, why));
            }
        }
        Ok(())
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
        let Some((_, Value::Template(key))) = parsed.take("key") else {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing `key = \"...\"`: the template of the lock key, e.g. `key = \"order:{id}\"`",
            ));
        };
        let Some((_, Value::Duration(ttl))) = parsed.take("ttl") else {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing `ttl = ...`: the lease, in seconds (`ttl = 30`) or with a unit (`ttl = \"250ms\"`)",
            ));
        };
        parsed.check_needs()?;
        let mut args = Args {
            key,
            ttl,
            busy: None,
            using: None,
            on_error: OnError::Reject,
            wait: None,
            cooldown: None,
            replay: None,
            replay_errors: None,
            fingerprint: None,
            renew: None,
            max_hold: None,
            fence: None,
            confirm: None,
            krate: None,
        };
        for (arg, span, value) in parsed.0 {
            match (arg.name, value) {
                ("busy", Value::Expr(expr)) => args.busy = Some(expr),
                ("using", Value::Expr(expr)) => args.using = Some(expr),
                ("on_error", Value::OnError(on_error)) => args.on_error = on_error,
                ("wait", Value::Duration(ms)) => args.wait = Some(ms),
                ("cooldown", Value::Duration(ms)) => args.cooldown = Some(ms),
                ("replay", Value::Duration(ms)) => args.replay = Some(ms),
                ("max_hold", Value::Duration(ms)) => args.max_hold = Some(ms),
                ("replay_errors", Value::Flag) => args.replay_errors = Some(span),
                ("renew", Value::Flag) => args.renew = Some(span),
                ("fence", Value::Flag) => args.fence = Some(span),
                ("fingerprint", Value::Template(template)) => args.fingerprint = Some(template),
                ("confirm", Value::Bool(confirm)) => args.confirm = Some(confirm),
                ("crate", Value::Path(path)) => args.krate = Some(path),
                // Each name parses as its table entry says.
                (name, _) => {
                    return Err(syn::Error::new(
                        span,
                        format!("redis-debounce-macros: `{name}` parsed as another kind (a bug)"),
                    ));
                }
            }
        }
        Ok(args)
    }
}

fn parse_key(input: ParseStream<'_>, name: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let found: Expr = input.parse()?;
    Err(syn::Error::new_spanned(
        found,
        format!("`{name}` takes a string literal template, e.g. `{name} = \"order:{{id}}\"`"),
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

/// The milliseconds, or an error when they do not fit a `u64`. Whether the
/// duration is one the runtime takes (longer than zero, at most 100 years)
/// is the runtime's rule, evaluated by the expansion at compile time.
fn nonzero(ms: Option<u64>, span: Span, name: &str) -> syn::Result<Millis> {
    match ms {
        Some(ms) => Ok(Millis {
            ms,
            span,
            name: name_of(name),
        }),
        None => Err(syn::Error::new(
            span,
            format!("`{name}` is too long: at most 100 years (\"36525d\")"),
        )),
    }
}

/// The table's own `&'static str` for an argument's name.
fn name_of(name: &str) -> &'static str {
    ARGS.iter()
        .find(|arg| arg.name == name)
        .map_or("duration", |arg| arg.name)
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
