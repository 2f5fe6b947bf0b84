//! The stored form of a result (`replay`): a header naming the format
//! version and the Rust type, then the value as JSON. A reader of another
//! type, or of a changed shape, gets [`Error::Replay`], never a wrong value.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// Bumped when the layout below changes.
const VERSION: &str = "rd1";

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let name = std::any::type_name::<T>();
    let mut out = Vec::with_capacity(VERSION.len() + name.len() + 32);
    out.extend_from_slice(VERSION.as_bytes());
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    serde_json::to_writer(&mut out, value).map_err(|e| Error::Replay {
        expected: name,
        detail: format!("cannot be stored: {e}"),
    })?;
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(stored: &[u8]) -> Result<T, Error> {
    let expected = std::any::type_name::<T>();
    let mismatch = |detail: String| Error::Replay { expected, detail };
    let newline = stored.iter().position(|&b| b == b'\n');
    let (header, json) = match newline {
        Some(at) => (&stored[..at], &stored[at + 1..]),
        None => return Err(mismatch("the stored value has no header".into())),
    };
    let header = String::from_utf8_lossy(header);
    let Some((version, name)) = header.split_once(' ') else {
        return Err(mismatch(format!("unreadable header `{header}`")));
    };
    if version != VERSION {
        return Err(mismatch(format!(
            "stored in format `{version}`, this version reads `{VERSION}`"
        )));
    }
    if name != expected {
        return Err(mismatch(format!("the stored result is a `{name}`")));
    }
    serde_json::from_slice(json)
        .map_err(|e| mismatch(format!("the stored result does not fit: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};
    use crate::Error;

    #[test]
    fn round_trip_and_typed_mismatches() {
        let stored = encode(&vec![1_u32, 2]).unwrap();
        assert_eq!(decode::<Vec<u32>>(&stored).unwrap(), vec![1, 2]);
        let wrong = decode::<String>(&stored).unwrap_err();
        assert!(
            matches!(
                wrong,
                Error::Replay {
                    expected: "alloc::string::String",
                    ..
                }
            ),
            "{wrong}"
        );
        let garbage = decode::<u32>(b"no header").unwrap_err();
        assert!(matches!(garbage, Error::Replay { .. }), "{garbage}");
        let future = decode::<u32>(b"rd9 u32\n1").unwrap_err();
        assert!(future.to_string().contains("rd9"), "{future}");
        let reshaped = decode::<u32>(b"rd1 u32\n\"one\"").unwrap_err();
        assert!(reshaped.to_string().contains("does not fit"), "{reshaped}");
    }
}
