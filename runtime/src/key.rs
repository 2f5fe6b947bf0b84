//! Lock keys: how a logical key is rendered into the Redis key.
//!
//! The Redis key of a logical key `k` is `<prefix>{k}`: the braces are a
//! Redis Cluster hash tag, so every key of one lock (`:fence`, `:result`,
//! `:waiting`, `:signal`) lands in one hash slot.
//!
//! A `#[debounce]` key is rendered injectively: every placeholder's value is
//! percent-encoded except for the characters of plain ids (ASCII letters
//! and digits, `-`, `_`, `.`, `~`), and the macro requires a character that
//! no value can produce between two placeholders. Distinct arguments
//! therefore never render the same key (`pay:{tenant}:{key}` with tenant
//! `a`, key `b:c` is `pay:a:b%3Ac`; with tenant `a:b`, key `c` it is
//! `pay:a%3Ab:c`), and no value can move the hash tag (`{` and `}` are
//! encoded; literal braces in a template or a programmatic key are written
//! `%7B`/`%7D` too). A logical key longer than [`MAX_KEY_LEN`] bytes keeps
//! its first bytes and ends in `%#` and the SHA-256 of the whole key (64 hex
//! digits), so a client cannot make Redis keys of any size it likes.

use std::fmt::{self, Write as _};

use sha2::{Digest as _, Sha256};

/// The longest logical key kept as rendered, in bytes; a longer one is
/// shortened to [`SHORTENED_LEN`] bytes: its first [`SHORTENED_KEEP`] bytes
/// (cut back to a character boundary and padded with `~`), then `%#` and
/// the SHA-256 of the whole key in hex.
pub(crate) const MAX_KEY_LEN: usize = 512;

const SHORTENED_KEEP: usize = MAX_KEY_LEN - 64;

/// A shortened key's length: longer than any key kept as rendered, so the
/// two never meet; and a shortened key is kept as it is when passed back
/// (`try_lock(lease.key())` takes the same lock).
const SHORTENED_LEN: usize = SHORTENED_KEEP + 2 + 64;

/// A rendered key: the full Redis key and where the logical key sits in it.
#[derive(Debug, Clone)]
pub(crate) struct LockKey {
    pub(crate) full: String,
    /// Where the logical key starts; it ends before the closing `}`.
    start: usize,
}

impl LockKey {
    /// Renders `<prefix>{<key>}` in one allocation.
    pub(crate) fn render(prefix: &str, key: fmt::Arguments<'_>) -> Result<Self, crate::Error> {
        if let Some(key) = key.as_str() {
            return Ok(Self::from_str(prefix, key));
        }
        let mut full = start(prefix, 48);
        let start = full.len();
        full.write_fmt(key).map_err(|_| {
            crate::Error::config("a key placeholder's Display implementation returned an error")
        })?;
        Ok(Self::close(full, start))
    }

    /// [`render`](Self::render) of a key that is a string already (the
    /// programmatic `try_lock(key)`): as written, but for `{` and `}`,
    /// written `%7B` and `%7D` as in a rendered key, so that no key can move
    /// the hash tag.
    pub(crate) fn from_str(prefix: &str, key: &str) -> Self {
        let mut full = start(prefix, key.len());
        let start = full.len();
        let mut rest = key;
        while let Some(at) = rest.find(['{', '}']) {
            full.push_str(&rest[..at]);
            full.push_str(if rest.as_bytes()[at] == b'{' {
                "%7B"
            } else {
                "%7D"
            });
            rest = &rest[at + 1..];
        }
        full.push_str(rest);
        Self::close(full, start)
    }

    /// The key written after `<prefix>{` from `start` on: shortened when
    /// too long, never empty (an empty hash tag would hash each key of the
    /// lock whole, into different slots), closed with `}`.
    fn close(mut full: String, start: usize) -> Self {
        let len = full.len() - start;
        if len > MAX_KEY_LEN && !is_shortened(&full[start..]) {
            let digest = Sha256::digest(&full.as_bytes()[start..]);
            let mut keep = start + SHORTENED_KEEP;
            while !full.is_char_boundary(keep) {
                keep -= 1;
            }
            full.truncate(keep);
            while full.len() < start + SHORTENED_KEEP {
                full.push('~');
            }
            full.push_str("%#");
            push_hex(&mut full, &digest);
        } else if len == 0 {
            // No value renders a lone `%` (an encoded byte is `%XX`), and
            // templates may not hold one.
            full.push('%');
        }
        full.push('}');
        LockKey { full, start }
    }

    /// The logical key: the rendered template, without prefix and braces.
    pub(crate) fn logical(&self) -> &str {
        &self.full[self.start..self.full.len() - 1]
    }
}

/// Writes `bytes` as lowercase hex digits (a digest in a key or a header).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Whether `key` is a shortened key already: kept as it is.
fn is_shortened(key: &str) -> bool {
    key.len() == SHORTENED_LEN
        && key[SHORTENED_KEEP..].starts_with("%#")
        && key.as_bytes()[SHORTENED_KEEP + 2..]
            .iter()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// `<prefix>{`, with room for a key of `len` bytes and the `}`.
fn start(prefix: &str, len: usize) -> String {
    let mut full = String::with_capacity(prefix.len() + len + 2);
    full.push_str(prefix);
    full.push('{');
    full
}

/// A placeholder's value as the key holds it: its `Display`, with every
/// character but ASCII letters, digits, `-`, `_`, `.` and `~` written as
/// `%XX` per UTF-8 byte. The expansion of `#[debounce]` wraps each
/// placeholder in it.
///
/// ```
/// use redis_debounce::__private::Encoded;
///
/// assert_eq!(Encoded("user-7_a.b~").to_string(), "user-7_a.b~");
/// assert_eq!(Encoded("a:b{c}%").to_string(), "a%3Ab%7Bc%7D%25");
/// assert_eq!(Encoded("é").to_string(), "%C3%A9");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Encoded<T>(pub T);

impl<T: fmt::Display> fmt::Display for Encoded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escape(f), "{}", self.0)
    }
}

/// Whether a value's byte stays as it is in a key.
fn plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// Writes through to `f`, percent-encoding what is not [`plain`].
struct Escape<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escape<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let bytes = s.as_bytes();
        let mut run = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if plain(byte) {
                continue;
            }
            // A run of plain bytes is ASCII, so it is a `str` on its own.
            self.0.write_str(ascii(&bytes[run..at])?)?;
            let encoded = [
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ];
            self.0.write_str(ascii(&encoded)?)?;
            run = at + 1;
        }
        self.0.write_str(ascii(&bytes[run..])?)
    }
}

/// ASCII bytes as a `str` (never fails for them).
fn ascii(bytes: &[u8]) -> Result<&str, fmt::Error> {
    std::str::from_utf8(bytes).map_err(|_| fmt::Error)
}

#[cfg(test)]
mod tests {
    use super::{Encoded, LockKey, MAX_KEY_LEN, SHORTENED_LEN};

    fn render(prefix: &str, key: std::fmt::Arguments<'_>) -> String {
        LockKey::render(prefix, key).unwrap().full
    }

    #[test]
    fn values_are_encoded_and_plain_ids_stay_readable() {
        let (tenant, key) = ("a", "b:c");
        let one = render(
            "debounce:",
            format_args!("pay:{}:{}", Encoded(tenant), Encoded(key)),
        );
        let (tenant, key) = ("a:b", "c");
        let two = render(
            "debounce:",
            format_args!("pay:{}:{}", Encoded(tenant), Encoded(key)),
        );
        assert_eq!(one, "debounce:{pay:a:b%3Ac}");
        assert_eq!(two, "debounce:{pay:a%3Ab:c}");
        assert_eq!(Encoded("Order-42_x.y~z").to_string(), "Order-42_x.y~z");
        assert_eq!(Encoded("{}%: /").to_string(), "%7B%7D%25%3A%20%2F");
        assert_eq!(Encoded("日本").to_string(), "%E6%97%A5%E6%9C%AC");
        assert_eq!(Encoded("aé:b").to_string(), "a%C3%A9%3Ab");
        assert_eq!(Encoded(format_args!("{:>4}", 7)).to_string(), "%20%20%207");
    }

    #[test]
    fn an_empty_key_is_never_an_empty_hash_tag() {
        let empty = render("debounce:", format_args!("{}", Encoded("")));
        assert_eq!(empty, "debounce:{%}");
        let key = LockKey::render("debounce:", format_args!("{}", Encoded(""))).unwrap();
        assert_eq!(key.logical(), "%");
    }

    #[test]
    fn a_long_key_is_shortened_by_its_hash() {
        let long = "x".repeat(MAX_KEY_LEN + 1);
        let key = LockKey::render("p:", format_args!("{}", Encoded(&long))).unwrap();
        let logical = key.logical();
        assert_eq!(logical.len(), SHORTENED_LEN);
        let (kept, hash) = logical.split_once("%#").unwrap();
        assert_eq!(kept, &long[..MAX_KEY_LEN - 64]);
        let digest = <sha2::Sha256 as sha2::Digest>::digest(long.as_bytes());
        let hex: String = digest.iter().fold(String::new(), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        assert_eq!(hash, hex, "the SHA-256 of the whole key");
        // Another tail, another hash; a key at the limit is kept whole.
        let other = format!("{}y", "x".repeat(MAX_KEY_LEN));
        let other = LockKey::render("p:", format_args!("{}", Encoded(&other))).unwrap();
        assert_ne!(other.logical(), logical);
        let at_limit = "x".repeat(MAX_KEY_LEN);
        let kept = LockKey::render("p:", format_args!("{}", Encoded(&at_limit))).unwrap();
        assert_eq!(kept.logical(), at_limit);
        // Passed back, a shortened key is the same key.
        assert_eq!(LockKey::from_str("p:", logical).logical(), logical);
        // A multi-byte character at the cut is not split, and the kept
        // part is padded: every shortened key has the same length.
        let wide = format!("{}{}", "x".repeat(MAX_KEY_LEN - 68), "é".repeat(400));
        let wide = LockKey::render("p:", format_args!("pre{wide}")).unwrap();
        assert_eq!(wide.logical().len(), SHORTENED_LEN);
        assert!(wide.logical().contains("~%#"));
    }

    #[test]
    fn a_programmatic_key_cannot_move_the_hash_tag() {
        assert_eq!(LockKey::from_str("p:", "}a{").full, "p:{%7Da%7B}");
        assert_eq!(
            LockKey::from_str("p:", "pay:a:b%3Ac").full,
            "p:{pay:a:b%3Ac}"
        );
    }
}
