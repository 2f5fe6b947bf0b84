//! Every stored result (`replay`), in one versioned format: a header line,
//! then the payload.
//!
//! ```text
//! rd2 <fingerprint> json <name>\n<the value as JSON>
//! rd2 <fingerprint> http <status>\n<content type>\n<body>
//! ```
//!
//! `<fingerprint>` is `-`, or the SHA-256 (64 lowercase hex digits) of the
//! request's rendered `fingerprint` template. `<name>` is the value's type
//! identity: for `#[debounce]` its return type as the source spells it
//! (`std::any::type_name` would change with the compiler, and a stored
//! result would then stop being replayed after a toolchain upgrade), `-`
//! for [`LockGuard::complete`](crate::LockGuard::complete). A reader of
//! another version, kind, name or shape gets [`Error::Replay`], never a
//! wrong value.

use std::fmt;

use crate::Error;

/// Bumped when the layout above changes.
const VERSION: &str = "rd2";

/// The SHA-256 of a request's rendered `fingerprint` template: a client
/// cannot craft a second payload with the same fingerprint (and so be
/// replayed the first response instead of getting 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Hashes the rendered template as it is written, without allocating.
    pub(crate) fn of(rendered: fmt::Arguments<'_>) -> Self {
        use sha2::Digest as _;
        struct Hasher(sha2::Sha256);
        impl fmt::Write for Hasher {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let mut hasher = Hasher(sha2::Sha256::new());
        // A failing Display leaves a partial hash: it still tells requests apart.
        let _ = fmt::write(&mut hasher, rendered);
        Fingerprint(hasher.0.finalize().into())
    }
}

/// What a result is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A value, as JSON.
    Json,
    /// A web handler's response.
    Http,
}

/// A result as the body produced it, before it is stored.
#[derive(Debug)]
pub struct Payload {
    kind: Kind,
    bytes: Vec<u8>,
}

impl Payload {
    /// A value, as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when serde cannot serialise it.
    #[cfg(feature = "serde")]
    pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Replay {
            expected: std::any::type_name::<T>(),
            detail: format!("cannot be stored: {e}"),
        })?;
        Ok(Payload {
            kind: Kind::Json,
            bytes,
        })
    }

    /// A response: its status, content type and body.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    pub(crate) fn http(status: u16, content_type: &[u8], body: &[u8]) -> Self {
        let mut bytes = format!("{status}\n").into_bytes();
        bytes.extend_from_slice(content_type);
        bytes.push(b'\n');
        bytes.extend_from_slice(body);
        Payload {
            kind: Kind::Http,
            bytes,
        }
    }

    /// The stored form: the header, then the payload. `name` is the
    /// value's type identity (a line break in it is stored as a space).
    pub(crate) fn frame(&self, fingerprint: Option<Fingerprint>, name: &str) -> Vec<u8> {
        let mut header = String::with_capacity(VERSION.len() + 64 + name.len() + 16);
        header.push_str(VERSION);
        header.push(' ');
        match fingerprint {
            Some(Fingerprint(digest)) => crate::key::push_hex(&mut header, &digest),
            None => header.push('-'),
        }
        match self.kind {
            Kind::Json => {
                header.push_str(" json ");
                header.extend(name.chars().map(|c| if c == '\n' { ' ' } else { c }));
                header.push('\n');
            }
            Kind::Http => header.push_str(" http "),
        }
        let mut framed = header.into_bytes();
        framed.extend_from_slice(&self.bytes);
        framed
    }
}

/// A stored result, read back.
#[derive(Debug)]
#[cfg_attr(
    not(any(feature = "serde", feature = "axum", feature = "actix-web")),
    expect(dead_code, reason = "read only where something can be replayed")
)]
pub struct Record<'a> {
    fingerprint: Option<Fingerprint>,
    kind: Kind,
    /// The type identity (`json`); empty for `http`.
    name: &'a str,
    payload: &'a [u8],
}

/// The error of a stored result that cannot be read as `expected`.
fn mismatch(expected: &'static str, detail: impl Into<String>) -> Error {
    Error::Replay {
        expected,
        detail: detail.into(),
    }
}

impl<'a> Record<'a> {
    /// Reads the header of a stored result.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when it is not a stored result of this version.
    pub(crate) fn read(stored: &'a [u8]) -> Result<Self, Error> {
        let unreadable = |detail: &str| mismatch("a stored result", detail);
        let rest = stored
            .strip_prefix(VERSION.as_bytes())
            .and_then(|rest| rest.strip_prefix(b" "))
            .ok_or_else(|| {
                let version = stored.split(|&b| b == b' ' || b == b'\n').next();
                unreadable(&format!(
                    "stored in format `{}`, this version reads `{VERSION}`",
                    String::from_utf8_lossy(version.unwrap_or_default())
                ))
            })?;
        let (fingerprint, rest) = if let Some(rest) = rest.strip_prefix(b"- ") {
            (None, rest)
        } else {
            let digest = rest
                .get(..64)
                .and_then(parse_hex)
                .filter(|_| rest.get(64) == Some(&b' '))
                .ok_or_else(|| unreadable("the fingerprint is not 64 lowercase hex digits"))?;
            (Some(Fingerprint(digest)), &rest[65..])
        };
        if let Some(payload) = rest.strip_prefix(b"http ") {
            return Ok(Record {
                fingerprint,
                kind: Kind::Http,
                name: "",
                payload,
            });
        }
        let rest = rest
            .strip_prefix(b"json ")
            .ok_or_else(|| unreadable("an unknown kind of stored result"))?;
        let at = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| unreadable("the header has no end"))?;
        let name = std::str::from_utf8(&rest[..at])
            .map_err(|_| unreadable("the type name is not UTF-8"))?;
        Ok(Record {
            fingerprint,
            kind: Kind::Json,
            name,
            payload: &rest[at + 1..],
        })
    }

    /// Whether it was stored for another request than `expected`: a
    /// fingerprint that differs, or none where one is expected.
    pub(crate) fn is_for_another_request(&self, expected: Option<Fingerprint>) -> bool {
        match (expected, self.fingerprint) {
            (None, _) => false,
            (Some(expected), found) => found != Some(expected),
        }
    }

    /// The value, if it was stored under `name` (any name: `None`).
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when it is not a `T` stored under that name.
    #[cfg(feature = "serde")]
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        name: Option<&'static str>,
    ) -> Result<T, Error> {
        let expected = name.unwrap_or_else(std::any::type_name::<T>);
        if self.kind != Kind::Json {
            return Err(mismatch(expected, "the stored result is an HTTP response"));
        }
        if let Some(name) = name
            && name != self.name
        {
            return Err(mismatch(
                expected,
                format!("the stored result is a `{}`", self.name),
            ));
        }
        serde_json::from_slice(self.payload)
            .map_err(|e| mismatch(expected, format!("the stored result does not fit: {e}")))
    }

    /// Status, content type and body of a stored response.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when it is not a response.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    pub(crate) fn http(&self) -> Result<(u16, &'a [u8], &'a [u8]), Error> {
        let expected = "an HTTP response";
        if self.kind != Kind::Http {
            return Err(mismatch(
                expected,
                format!("the stored result is a `{}`", self.name),
            ));
        }
        let mut parts = self.payload.splitn(3, |&b| b == b'\n');
        let (Some(status), Some(content_type), Some(body)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(mismatch(expected, "the stored response is cut short"));
        };
        let status = std::str::from_utf8(status)
            .ok()
            .and_then(|status| status.parse().ok())
            .ok_or_else(|| mismatch(expected, "the stored status is not a number"))?;
        Ok((status, content_type, body))
    }
}

/// 32 bytes from 64 lowercase hex digits.
fn parse_hex(hex: &[u8]) -> Option<[u8; 32]> {
    let mut digest = [0_u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks(2)) {
        let nibble = |hex: u8| match hex {
            b'0'..=b'9' => Some(hex - b'0'),
            b'a'..=b'f' => Some(hex - b'a' + 10),
            _ => None,
        };
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::{Fingerprint, Kind, Payload, Record};
    use crate::Error;

    fn json(value: &str) -> Payload {
        Payload {
            kind: Kind::Json,
            bytes: value.as_bytes().to_vec(),
        }
    }

    /// The header is exactly as documented, and reads back.
    #[test]
    fn the_layout() {
        let fingerprint = Fingerprint([0xab; 32]);
        let framed = json("[1,2]").frame(Some(fingerprint), "Vec<u32>");
        let hex = "ab".repeat(32);
        assert_eq!(framed, format!("rd2 {hex} json Vec<u32>\n[1,2]").as_bytes());
        let record = Record::read(&framed).unwrap();
        assert_eq!(record.fingerprint, Some(fingerprint));
        assert_eq!((record.name, record.payload), ("Vec<u32>", &b"[1,2]"[..]));
        let bare = json("1").frame(None, "a\nb");
        assert_eq!(bare, b"rd2 - json a b\n1");
    }

    /// Only the exact fingerprint of the request answers it; a result
    /// stored without one answers only requests that expect none.
    #[test]
    fn fingerprints_tell_requests_apart() {
        let mine = Fingerprint([1; 32]);
        let framed = json("1").frame(Some(mine), "u32");
        let record = Record::read(&framed).unwrap();
        assert!(!record.is_for_another_request(Some(mine)));
        assert!(record.is_for_another_request(Some(Fingerprint([2; 32]))));
        assert!(!record.is_for_another_request(None));
        let unfingerprinted = json("1").frame(None, "u32");
        let record = Record::read(&unfingerprinted).unwrap();
        assert!(record.is_for_another_request(Some(mine)));
        let hex = "ab".repeat(32);
        for bad in [
            format!("rd2 {} json u32\n1", hex.to_uppercase()),
            format!("rd2 {hex}json u32\n1"),
            format!("rd2 {} json u32\n1", &hex[..62]),
            "rd1 u32\n1".to_owned(),
            "rd2 - yaml u32\n1".to_owned(),
            "rd2 - json u32".to_owned(),
            String::new(),
        ] {
            assert!(
                matches!(Record::read(bad.as_bytes()), Err(Error::Replay { .. })),
                "{bad}"
            );
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn values_round_trip_and_mismatches_are_typed() {
        let framed = Payload::json(&vec![1_u32, 2])
            .unwrap()
            .frame(None, "Vec<u32>");
        let record = Record::read(&framed).unwrap();
        assert_eq!(record.json::<Vec<u32>>(Some("Vec<u32>")).unwrap(), [1, 2]);
        assert_eq!(record.json::<Vec<u32>>(None).unwrap(), [1, 2]);
        let renamed = record.json::<Vec<u32>>(Some("Vec<u64>")).unwrap_err();
        assert!(renamed.to_string().contains("Vec<u32>"), "{renamed}");
        let reshaped = record.json::<String>(None).unwrap_err();
        assert!(reshaped.to_string().contains("does not fit"), "{reshaped}");
        // The error names the format it found (its first word), no more.
        let old = Record::read(b"rd1 u32\n1").unwrap_err();
        assert!(old.to_string().contains("format `rd1`"), "{old}");
        let old = Record::read(b"rd0\nu32 1").unwrap_err();
        assert!(old.to_string().contains("format `rd0`"), "{old}");
    }

    #[cfg(any(feature = "axum", feature = "actix-web"))]
    #[test]
    fn responses_round_trip() {
        let framed = Payload::http(201, b"text/plain", b"a\nb").frame(None, "ignored");
        assert_eq!(framed, b"rd2 - http 201\ntext/plain\na\nb");
        let record = Record::read(&framed).unwrap();
        assert_eq!(
            record.http().unwrap(),
            (201, &b"text/plain"[..], &b"a\nb"[..])
        );
        let short = Record::read(b"rd2 - http 201").unwrap();
        assert!(short.http().is_err());
        #[cfg(feature = "serde")]
        assert!(
            record.json::<u32>(None).is_err(),
            "a response is not a value"
        );
    }
}
