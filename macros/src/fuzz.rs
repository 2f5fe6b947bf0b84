//! Property tests of the whole macro on generated input: key templates,
//! attribute argument lists, and raw token soup (as the attribute and as the
//! item). Whatever comes in, `expand::debounce` never panics, its output
//! parses as a Rust file whenever the item does (the compiler only ever
//! passes an item), and it either expands or gives back the user's item
//! untouched plus one `compile_error!`.
//!
//! 256 cases per property by default; `PROPTEST_CASES=10000` for a longer
//! run. A failure is minimised and saved by proptest under
//! `macros/proptest-regressions/fuzz.txt`, replayed first on later runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::select;
use quote::quote;

/// The name every generated fn has: the output must keep it.
const NAME: &str = "checkout";

/// The fixed fn of the key template property, and its bindings.
const KEY_FN: &str =
    "fn checkout(user: &User, cart_id: u64, (a, b): (u32, u32)) -> Result<(), Busy> { Ok(()) }";
const KEY_PARAMS: &[&str] = &["user", "cart_id", "a", "b"];

/// Fn shapes the attribute lists are tried on: sync, async, the
/// `#[async_trait]` shape, web handlers, and the refused ones.
const ITEMS: &[&str] = &[
    KEY_FN,
    "async fn checkout(user: &User, cart_id: u64) -> Result<u64, Error> { Ok(cart_id) }",
    "fn checkout<'a>(&'a self, cart_id: u64) -> Pin<Box<dyn Future<Output = Result<(), Busy>> + Send + 'a>> { Box::pin(async move { Ok(()) }) }",
    "async fn checkout(cart_id: u64) -> impl IntoResponse { \"ok\" }",
    "async fn checkout(cart_id: u64) -> impl Responder { \"ok\" }",
    "async fn checkout<const N: usize>(cart_id: u64) -> HttpResponse { todo!() }",
    "pub(crate) fn checkout(cart_id: u64) -> u64 { cart_id }",
    "fn checkout(cart_id: u64) -> impl Future<Output = ()> { async {} }",
    "const fn checkout(cart_id: u64) {}",
    "unsafe extern \"C\" fn checkout(cart_id: u64, ...) {}",
    "#[must_use] fn checkout(cart_id: u64) -> u64 { #![allow(unused)] cart_id }",
];

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

fn tokens(text: &str) -> TokenStream {
    TokenStream::from_str(text).unwrap_or_else(|error| panic!("{text:?} does not lex: {error}"))
}

/// How one call of the macro ended.
enum Outcome {
    Expanded(TokenStream),
    Refused,
}

/// Calls the macro and checks what holds for every input: no panic, the
/// output parses as a file whenever the item does, and it is either an
/// expansion (no `compile_error!`) or the item token for token, then one
/// `compile_error!`.
fn run(args: &TokenStream, item: &TokenStream) -> Result<Outcome, TestCaseError> {
    let call = catch_unwind(AssertUnwindSafe(|| {
        crate::expand::debounce(args.clone(), item.clone())
    }));
    let output = match call {
        Ok(output) => output,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(not a string)");
            return Err(TestCaseError::fail(format!(
                "panicked: {message}\n  args: {args}\n  item: {item}"
            )));
        }
    };
    let item_is_rust = syn::parse2::<syn::File>(item.clone()).is_ok();
    if item_is_rust {
        // Both as the tokens are and as the compiler would lex their text.
        if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
            return Err(TestCaseError::fail(format!(
                "output is not a file: {error}\n  args: {args}\n  item: {item}\n  output: {output}"
            )));
        }
        let text = output.to_string();
        if let Err(error) = syn::parse_str::<syn::File>(&text) {
            return Err(TestCaseError::fail(format!(
                "output does not re-lex as a file: {error}\n  args: {args}\n  item: {item}\n  output: {text}"
            )));
        }
    }
    let errors = count_ident(&output, "compile_error");
    if errors == 0 {
        return Ok(Outcome::Expanded(output));
    }
    prop_assert_eq!(
        errors,
        1,
        "one mistake, one error\n  args: {}\n  output: {}",
        args,
        output
    );
    let kept = quote!(#[allow(unused_variables)] #item).to_string();
    let text = output.to_string();
    prop_assert!(
        text.starts_with(&kept),
        "the item is not kept token for token\n  args: {}\n  item: {}\n  output: {}",
        args,
        item,
        text
    );
    Ok(Outcome::Refused)
}

fn count_ident(tokens: &TokenStream, name: &str) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(ident) => usize::from(ident == name),
            TokenTree::Group(group) => count_ident(&group.stream(), name),
            TokenTree::Punct(_) | TokenTree::Literal(_) => 0,
        })
        .sum()
}

/// `run`, for an item that is a fn named `NAME`: the output keeps the name
/// either way.
fn run_fn(args: &TokenStream, item: &TokenStream) -> Result<Outcome, TestCaseError> {
    let outcome = run(args, item)?;
    if let Outcome::Expanded(output) = &outcome {
        prop_assert!(
            count_ident(output, NAME) > 0,
            "the fn's name is lost\n  args: {}\n  output: {}",
            args,
            output
        );
    }
    Ok(outcome)
}

// ---- 1. key templates --------------------------------------------------

/// Pieces of templates: the characters that mean something to the
/// template parser or to a key, the parameters' names, and the odd ones out
/// (a combining mark, a superscript digit, a keyword, a huge index).
const KEY_BITS: &[&str] = &[
    "{",
    "}",
    "{{",
    "}}",
    ":",
    "%",
    ".",
    "_",
    "-",
    "\\",
    "\"",
    "é",
    "~",
    " ",
    "x",
    "user",
    "cart_id",
    "a",
    "b",
    "id",
    "self",
    "type",
    "r#type",
    "0",
    "1",
    "00",
    "4294967296",
    "99999999999",
    "²",
    "\u{345}",
    "\u{2160}",
    "{}",
    "{user.id}",
    "{cart_id}",
    "{a}",
    "{b}",
    "{user.0}",
    "{a:>8}",
];

fn key_soup() -> impl Strategy<Value = String> {
    let bit = prop_oneof![
        8 => select(KEY_BITS).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(bit, 0..12).prop_map(|bits| bits.concat())
}

/// Templates shaped like real ones, literal text then placeholders, so that
/// many of them expand.
fn key_shaped() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        select(
            &[
                "id",
                "name",
                "0",
                "1",
                "_x",
                "éa",
                "type",
                "_",
                "00",
                "4294967296",
                "a²",
                "\u{345}"
            ][..]
        )
        .prop_map(String::from),
        "[a-z_][a-z0-9_]{0,6}",
    ];
    let root = prop_oneof![
        4 => select(KEY_PARAMS).prop_map(String::from),
        1 => select(&["self", "c", "User", "_", "é"][..]).prop_map(String::from),
    ];
    let path = (root, prop::collection::vec(member, 0..3)).prop_map(|(root, members)| {
        std::iter::once(root)
            .chain(members)
            .collect::<Vec<_>>()
            .join(".")
    });
    let text = select(&["", ":", "order:", "-", "/", "é", "{{", "}}", "%", ".", "::"][..]);
    prop::collection::vec((text, path), 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(text, path)| [text.to_owned(), "{".into(), path, "}".into()])
            .collect::<String>()
    })
}

/// The placeholders of a template the macro took: their paths.
fn placeholders(template: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        let after = &rest[at + 1..];
        if after.starts_with(&rest[at..=at]) {
            rest = &after[1..];
            continue;
        }
        let close = after.find('}').expect("the macro took an unclosed `{`");
        found.push(after[..close].split('.').map(String::from).collect());
        rest = &after[close + 1..];
    }
    found
}

/// The key literal, as a plain or (when it can be) a raw string.
fn key_literal(template: &str, raw: bool) -> TokenStream {
    // A raw string holds neither a quote nor a lone carriage return.
    if raw && !template.contains(['"', '\r']) {
        tokens(&format!("r\"{template}\""))
    } else {
        TokenTree::Literal(Literal::string(template)).into()
    }
}

// ---- 2. attribute argument lists ---------------------------------------

const NAMES: &[&str] = &[
    "key",
    "ttl",
    "busy",
    "using",
    "on_error",
    "wait",
    "cooldown",
    "replay",
    "replay_errors",
    "fingerprint",
    "renew",
    "max_hold",
    "fence",
    "confirm",
    "crate",
];
const UNKNOWN: &[&str] = &["kee", "TTL", "r#key", "self", "_", "type", "timeout", "é"];

const VALUES: &[&str] = &[
    // integers
    "0",
    "1",
    "30",
    "-1",
    "-0",
    "300",
    "3155760000",
    "3155760001",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "30u64",
    "0x10",
    "1_000",
    "- 5",
    // floats
    "1.5",
    "0.0",
    "1e3",
    "1.",
    "2.5f32",
    "-2.5",
    // durations and other strings
    "\"0ms\"",
    "\"99999999999999999999s\"",
    "\"\"",
    "\"1m30s\"",
    "\"1x\"",
    "\"250ms\"",
    "\"36525d\"",
    "\"36526d\"",
    "\"1h30m\"",
    "\"5 s\"",
    "\"-5s\"",
    "\"1.5s\"",
    "\"ms\"",
    "\"5\"",
    "\"18446744073709551615d\"",
    "r\"30s\"",
    "b\"30s\"",
    "\"30s\"suffix",
    "'c'",
    // keys, on_error, crate paths
    "\"order:{cart_id}\"",
    "\"{user.id}:{cart_id}\"",
    "\"{self.id}\"",
    "\"{N}\"",
    "\"k\"",
    "\"{cart_id}{cart_id}\"",
    "\"reject\"",
    "\"allow\"",
    "\"::redis_debounce\"",
    "\"crate\"",
    "\"not a path\"",
    "\"a::b\"",
    // bools, paths, expressions
    "true",
    "false",
    "Busy::new",
    "crate::x",
    "::redis_debounce",
    "self",
    "Self::BUSY",
    "Err(Busy)",
    "&self.debouncer",
    "{ 1 }",
    "(1, 2)",
    "[1]",
    "async {}",
    "x?",
    // closures
    "|b| b",
    "|b| Err(b)",
    "|| 0",
    "|_| {}",
    "move |b| b.into()",
    "|b: Busy| -> u32 { 0 }",
    "|b| |c| c",
];

const STRAY: &[&str] = &[
    ",", ";", ":", "::", "=", "==", "#", "!", "@", "|", "-", "..", "=>", "$", "?", "()", "[]",
    "{}", "#[x]",
];

/// Values that fit a name, so that whole lists get through and the
/// expansion sees the arguments' combinations.
fn fitting(name: &str) -> &'static [&'static str] {
    match name {
        "key" | "fingerprint" => &[" = \"order:{cart_id}\"", " = \"k\""],
        "ttl" | "wait" | "cooldown" | "replay" | "max_hold" => {
            &[" = 30", " = \"250ms\"", " = \"1m30s\"", " = \"1h\""]
        }
        "busy" => &[" = |b| Err(b)", " = Err(Busy)", " = 0"],
        "using" => &[" = &DEBOUNCER", " = self.debouncer()"],
        "on_error" => &[" = \"allow\"", " = \"reject\""],
        "confirm" => &["", " = true", " = false"],
        "crate" => &[" = \"::redis_debounce\"", " = \"crate::x\""],
        _ => &[""],
    }
}

/// Any value at all: nothing, `=` alone, or `= value`.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just(" =".to_owned()),
        10 => select(VALUES).prop_map(|value| format!(" = {value}")),
        2 => any::<i64>().prop_map(|value| format!(" = {value}")),
        2 => any::<u128>().prop_map(|value| format!(" = {value}")),
        2 => (0_u32..100_000, select(&["ms", "s", "m", "h", "d", "x", ""][..]), 0_u32..100, select(&["", "s", "ms"][..]))
            .prop_map(|(a, unit, b, unit2)| format!(" = \"{a}{unit}{b}{unit2}\"")),
        2 => key_soup().prop_map(|key| format!(" = {}", Literal::string(&key))),
    ]
}

/// One argument: a known or unknown name, then a value that fits it or any
/// value.
fn argument() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        6 => select(NAMES),
        1 => select(UNKNOWN),
    ];
    name.prop_flat_map(|name| {
        let value = prop_oneof![
            1 => select(fitting(name)).prop_map(String::from),
            1 => any_value(),
        ];
        (Just(name.to_owned()), value)
    })
}

/// What goes between two arguments: mostly a comma.
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => Just(", ".to_owned()),
        1 => Just(" ".to_owned()),
        1 => select(STRAY).prop_map(|stray| format!(" {stray} ")),
    ]
}

/// An attribute list: arguments and separators, a trailing separator or
/// not, sometimes stray punctuation in front. Also whether it may expand:
/// not if it certainly breaks a rule (stray tokens in front, an unknown or
/// repeated name, anything but a comma between arguments, no `key` or no
/// `ttl`), as far as that is known: what follows a `busy` or `using`
/// expression may continue it (`busy = |b| Err(b)..` is a range), so the
/// list is not judged past such a point.
fn argument_list() -> impl Strategy<Value = (String, bool)> {
    (
        prop::collection::vec((argument(), separator()), 0..6),
        prop_oneof![3 => Just(String::new()), 1 => Just(",".to_owned()), 1 => select(STRAY).prop_map(String::from)],
        prop_oneof![6 => Just(String::new()), 1 => select(STRAY).prop_map(|stray| format!("{stray} "))],
        prop::bool::weighted(0.7),
    )
        .prop_map(|(mut arguments, trailing, leading, base)| {
            if base {
                // Usually valid in front, so that the rest is reached.
                arguments.insert(0, (("key".into(), " = \"order:{cart_id}\"".into()), ", ".into()));
                arguments.insert(1, (("ttl".into(), " = 30".into()), ", ".into()));
            }
            let mut text = leading.clone();
            let mut refused = !leading.is_empty() || arguments.is_empty() && !trailing.is_empty();
            let mut judged = true;
            let mut seen: Vec<&str> = Vec::new();
            for (index, ((name, value), separator)) in arguments.iter().enumerate() {
                text.push_str(name);
                text.push_str(value);
                let after = if index + 1 < arguments.len() { separator.as_str() } else { &trailing };
                text.push_str(after);
                if !judged {
                    continue;
                }
                refused |= !NAMES.contains(&name.as_str()) || seen.contains(&name.as_str());
                seen.push(name);
                let clean = if index + 1 < arguments.len() { after == ", " } else { after.is_empty() || after == "," };
                if !clean && (name == "busy" || name == "using") {
                    judged = false;
                } else {
                    refused |= !clean;
                }
            }
            if judged {
                refused |= !(seen.contains(&"key") && seen.contains(&"ttl"));
            }
            (text, !refused)
        })
}

// ---- 3. durations, against an oracle -----------------------------------

/// The ttl in milliseconds a value must give, or `None` if the macro
/// refuses it. (Zero and over 100 years expand: the expansion has the
/// compiler evaluate the runtime's rule, a `duration_error` constant.)
fn expected_ttl(value: &str) -> Option<u64> {
    let ms = if let Some(text) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut total: u64 = 0;
        let mut rest = text;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let number: u64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let unit = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
            let factor = match &rest[..unit] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return None,
            };
            rest = &rest[unit..];
            total = total.checked_add(number.checked_mul(factor)?)?;
        }
        total
    } else {
        value.parse::<u64>().ok()?.checked_mul(1000)?
    };
    Some(ms)
}

fn duration_value() -> impl Strategy<Value = String> {
    let unit = select(&["ms", "s", "m", "h", "d", "", "x", "S", " s"][..]);
    let number = prop_oneof![
        0_u64..100_000,
        Just(0),
        Just(36_525),
        Just(3_155_760_000),
        Just(3_155_760_001),
        any::<u64>()
    ];
    prop_oneof![
        3 => prop::collection::vec((number.clone(), unit), 1..4).prop_map(|parts| {
            let text: String = parts.iter().flat_map(|(n, unit)| [n.to_string(), (*unit).to_owned()]).collect();
            format!("\"{text}\"")
        }),
        2 => number.prop_map(|n| n.to_string()),
        1 => any::<u128>().prop_map(|n| n.to_string()),
        1 => select(&["\"\"", "-1", "1.5", "\"1.5s\"", "30u64", "\"-5s\"", "'c'", "x", "true"][..]).prop_map(String::from),
    ]
}

// ---- 4. token soup ------------------------------------------------------

const SOUP_IDENTS: &[&str] = &[
    "key",
    "ttl",
    "busy",
    "using",
    "on_error",
    "renew",
    "fence",
    "confirm",
    "crate",
    "replay",
    "max_hold",
    "fingerprint",
    "self",
    "Self",
    "fn",
    "checkout",
    "async",
    "move",
    "true",
    "x",
    "user",
    "cart_id",
    "impl",
    "Future",
    "pub",
    "struct",
    "const",
    "u64",
    "Box",
    "pin",
    "_",
];
const SOUP_LITERALS: &[&str] = &[
    "\"k\"",
    "\"k:{cart_id}\"",
    "\"{x}\"",
    "\"\"",
    "\"250ms\"",
    "30",
    "0",
    "-1",
    "1.5",
    "'c'",
    "b\"x\"",
    "r\"raw\"",
    "c\"c\"",
    "99999999999999999999",
    "30u64",
    "\"{{\"",
    "\"%\"",
];
const SOUP_PUNCTS: &[char] = &[
    '=', ',', '|', '-', '.', ':', '#', '!', ';', '&', '<', '>', '+', '*', '?', '@', '\'', '$', '/',
];

fn token_tree() -> impl Strategy<Value = TokenTree> {
    let leaf = prop_oneof![
        4 => select(SOUP_IDENTS).prop_map(|name| TokenTree::Ident(Ident::new(name, Span::call_site()))),
        1 => select(&["type", "fn", "key", "match"][..]).prop_map(|name| TokenTree::Ident(Ident::new_raw(name, Span::call_site()))),
        3 => select(SOUP_LITERALS).prop_map(|text| TokenTree::Literal(text.parse().expect("a literal"))),
        1 => any::<i64>().prop_map(|n| TokenTree::Literal(Literal::i64_unsuffixed(n))),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| TokenTree::Literal(Literal::f64_unsuffixed(f))),
        1 => any::<String>().prop_map(|text| TokenTree::Literal(Literal::string(&text))),
        4 => (select(SOUP_PUNCTS), any::<bool>()).prop_map(|(ch, joint)| {
            TokenTree::Punct(Punct::new(ch, if joint { Spacing::Joint } else { Spacing::Alone }))
        }),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        (
            select(
                &[
                    Delimiter::Parenthesis,
                    Delimiter::Brace,
                    Delimiter::Bracket,
                    Delimiter::None,
                ][..],
            ),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(delimiter, trees)| {
                TokenTree::Group(Group::new(delimiter, trees.into_iter().collect()))
            })
    })
}

fn soup() -> impl Strategy<Value = TokenStream> {
    prop::collection::vec(token_tree(), 0..12).prop_map(|trees| trees.into_iter().collect())
}

/// Soup, or soup in the shape of a fn (`fn checkout(..) -> .. { .. }`), so
/// that the fn parser and the expansion see odd signatures and bodies.
fn soup_item() -> impl Strategy<Value = TokenStream> {
    let fn_shaped = (soup(), soup(), prop::option::of(soup()), soup()).prop_map(
        |(front, params, output, body)| {
            let front = front.into_iter().take(2).collect::<TokenStream>();
            let output = output.map(|output| quote!(-> #output));
            quote!(#front fn checkout(#params) #output { #body })
        },
    );
    prop_oneof![soup(), fn_shaped, select(ITEMS).prop_map(tokens)]
}

/// Soup, sometimes after a valid `key` and `ttl`, so that the tail is
/// reached.
fn soup_args() -> impl Strategy<Value = TokenStream> {
    (any::<bool>(), soup()).prop_map(|(base, soup)| {
        if base {
            quote!(key = "order:{cart_id}", ttl = 30, #soup)
        } else {
            soup
        }
    })
}

proptest! {
    #![proptest_config(config())]

    /// Key templates over a fixed fn: an expanded template names only the
    /// fn's parameters, each placeholder rendered once, through `Encoded`.
    #[test]
    fn key_templates(template in prop_oneof![key_soup(), key_shaped()], raw in any::<bool>()) {
        let key = key_literal(&template, raw);
        let args = quote!(key = #key, ttl = 30);
        let item = tokens(KEY_FN);
        if let Outcome::Expanded(output) = run_fn(&args, &item)? {
            let text = output.to_string();
            let holes = placeholders(&template);
            for path in &holes {
                prop_assert!(KEY_PARAMS.contains(&path[0].as_str()), "{:?} took `{}`", template, path[0]);
                let members = path[1..].iter().map(|member| {
                    member.parse::<u32>().map_or_else(|_| member.clone(), |index| index.to_string())
                });
                let expr = std::iter::once(path[0].clone()).chain(members).collect::<Vec<_>>().join(" . ");
                prop_assert!(text.contains(&format!("\"{{}}\" , {expr})")), "{:?}: `{}` not rendered in {}", template, expr, text);
                // Inside `format_args!`, so the file parse above never saw it.
                let parsed = syn::parse_str::<syn::Expr>(&expr);
                prop_assert!(
                    matches!(parsed, Ok(syn::Expr::Field(_) | syn::Expr::Path(_))),
                    "{:?}: `{}` is not a field path", template, expr
                );
            }
            prop_assert_eq!(count_ident(&output, "Encoded"), holes.len(), "{:?}", template);
        }
    }

    /// Attribute lists of known and unknown names, odd values, duplicates,
    /// missing values and stray punctuation, over fns of every shape.
    #[test]
    fn argument_lists((list, shape_ok) in argument_list(), item in select(ITEMS)) {
        let args = tokens(&list);
        let item = tokens(item);
        if let Outcome::Expanded(_) = run_fn(&args, &item)? {
            prop_assert!(shape_ok, "expanded a malformed list: {}", list);
        }
    }

    /// `ttl` values against an independent reading of the documented rules:
    /// whole seconds, or a string of numbers with units; whether zero or
    /// over 100 years, the compiler decides by the runtime's rule, which
    /// the expansion always checks.
    #[test]
    fn durations(value in duration_value()) {
        let args = tokens(&format!("key = \"order:{{cart_id}}\", ttl = {value}"));
        let item = tokens(KEY_FN);
        let outcome = run_fn(&args, &item)?;
        match (expected_ttl(&value), outcome) {
            (Some(ms), Outcome::Expanded(output)) => {
                let expected = format!("ttl : :: core :: time :: Duration :: from_millis ({ms}u64)");
                let text = output.to_string();
                prop_assert!(text.contains(&expected), "{}: no `{}`", value, expected);
                prop_assert!(text.contains("duration_error"), "{}: the rule is not checked", value);
            }
            (None, Outcome::Refused) => {}
            (Some(ms), Outcome::Refused) => prop_assert!(false, "{} refused, expected {}ms", value, ms),
            (None, Outcome::Expanded(_)) => prop_assert!(false, "{} taken, expected a refusal", value),
        }
    }

    /// Raw token soup as the attribute, over a fixed fn.
    #[test]
    fn soup_as_args(args in soup_args(), item in select(ITEMS)) {
        run_fn(&args, &tokens(item))?;
    }

    /// Raw token soup (or a fn shape with soup inside) as the item, under a
    /// valid attribute or soup.
    #[test]
    fn soup_as_item(valid in any::<bool>(), args in soup_args(), item in soup_item()) {
        let args = if valid { quote!(key = "order:{cart_id}", ttl = 30) } else { args };
        if let Outcome::Expanded(output) = run(&args, &item)? {
            prop_assert!(count_ident(&output, NAME) > 0, "the fn's name is lost: {}", output);
        }
    }
}

/// Minimised inputs the properties found, kept as plain cases: each must be
/// refused with a `compile_error!`, not panic nor render invalid Rust.
#[test]
fn found_by_fuzzing() {
    let item = tokens(KEY_FN);
    let mut failures = Vec::new();
    for key in [
        // A tuple index past `u32`: `Ident::new("4294967296")` panicked.
        "{user.4294967296}",
        // Keywords and `_` as field names rendered `user.type`, not Rust.
        "{user.type}",
        "{user.self}",
        "{user._}",
        "{user.r#type}",
        // Letters and numbers that no identifier takes: `Ident::new` panicked.
        "{user.\u{345}}",
        "{user.a\u{b2}}",
    ] {
        let args = quote!(key = #key, ttl = 30);
        match run_fn(&args, &item) {
            Ok(Outcome::Refused) => {}
            Ok(Outcome::Expanded(output)) => failures.push(format!("{key:?} expanded: {output}")),
            Err(error) => failures.push(format!("{key:?}: {error}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
