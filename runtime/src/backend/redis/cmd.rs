//! Every request as data: the command, built straight into its buffer, and
//! the decoder of its answer.

use std::io::Write as _;
use std::time::Duration;

use redis::{Cmd, RedisWrite as _, Value};

use super::script;
use crate::Error;
use crate::backend::{Acquire, Ask, Finish};
use crate::token::Token;

/// The keys that belong to one lock key, beside it in its hash slot.
const SUFFIXES: [&str; 4] = [":fence", ":waiting", ":signal", ":result"];

/// Bytes of a command's arguments beyond its keys: the longest script hash,
/// token and numbers fit.
const ARGS_BYTES: usize = 96;

/// Writes `<key><suffix>` as one argument, straight into the command's
/// buffer (no string, no formatting machinery).
fn key_arg(cmd: &mut Cmd, key: &str, suffix: &str) {
    let mut arg = cmd.writer_for_next_arg();
    // Writing into the command's own `Vec` cannot fail.
    let _ = arg.write_all(key.as_bytes());
    let _ = arg.write_all(suffix.as_bytes());
}

/// `<EVALSHA hash | EVAL text> 5 <key> <key>:fence <key>:waiting <key>:signal <key>:result`:
/// the acquire and finish scripts declare the same keys. Sized up front:
/// the buffers never grow while the command is written.
fn eval_keys(eval: &str, script: &str, key: &str, args: usize, payload: usize) -> Cmd {
    let keys = 1 + SUFFIXES.len();
    let mut cmd = Cmd::with_capacity(
        3 + keys + args,
        script.len() + keys * key.len() + 32 + ARGS_BYTES + payload,
    );
    cmd.arg(eval).arg(script).arg(keys).arg(key);
    for suffix in SUFFIXES {
        key_arg(&mut cmd, key, suffix);
    }
    cmd
}

/// `SET key token NX PX ttl` alone, for a request that wants nothing but
/// the lock (no fencing token, stored result or wait): a native command
/// costs the server a fifth of the script. When the key is taken, the
/// script then says by whom and for how long (the busy path pays a second
/// round trip; a free key pays none).
pub(super) fn plain_set(key: &str, ask: Ask) -> Option<Cmd> {
    if ask.fence || ask.replay || ask.wait_ms > 0 {
        return None;
    }
    let mut cmd = Cmd::with_capacity(6, key.len() + ARGS_BYTES);
    cmd.arg("SET")
        .arg(key)
        .arg(ask.token.as_bytes())
        .arg("NX")
        .arg("PX")
        .arg(ask.ttl_ms);
    Some(cmd)
}

pub(super) fn acquire(key: &str, ask: Ask) -> Cmd {
    let flags = u8::from(ask.fence) | u8::from(ask.replay) << 1;
    let mut cmd = eval_keys("EVALSHA", script::ACQUIRE.get_hash(), key, 4, 0);
    cmd.arg(ask.token.as_bytes())
        .arg(ask.ttl_ms)
        .arg(flags)
        .arg(ask.wait_ms);
    cmd
}

/// The script call that gives a lock up: the plain release, or with a
/// cooldown and/or a stored result. Sent as text (`EVAL`), never by hash:
/// nobody waits for most of them, and one that met a `NOSCRIPT` would
/// need a second trip.
pub(super) fn finish(key: &str, token: Token, finish: &Finish) -> Cmd {
    if *finish == Finish::RELEASE {
        return release(key, token);
    }
    let payload = finish
        .store
        .as_ref()
        .map_or(0, |(payload, _)| payload.len());
    let mut cmd = eval_keys("EVAL", &script::FINISH_LUA, key, 4, payload);
    cmd.arg(token.as_bytes())
        .arg(finish.cooldown_ms.unwrap_or(0));
    match &finish.store {
        Some((payload, ms)) => cmd.arg(*ms).arg(payload.as_slice()),
        None => cmd.arg(0).arg(""),
    };
    cmd
}

/// `EVAL <release.lua> 3 <key> <key>:waiting <key>:signal <token>`.
pub(super) fn release(key: &str, token: Token) -> Cmd {
    let lua = script::RELEASE_LUA.as_str();
    let mut cmd = Cmd::with_capacity(7, lua.len() + 3 * key.len() + ARGS_BYTES);
    cmd.arg("EVAL").arg(lua).arg(3).arg(key);
    key_arg(&mut cmd, key, ":waiting");
    key_arg(&mut cmd, key, ":signal");
    cmd.arg(token.as_bytes());
    cmd
}

/// The lock key of an acquire, finish or extend, for a log line: read back
/// from the command, so that no request copies its key when all goes well.
pub(super) fn key_of(cmd: &Cmd) -> String {
    let mut args = cmd.args_iter();
    let key = match args.next() {
        // SET <key> ...
        Some(redis::Arg::Simple(b"SET")) => args.next(),
        // EVAL(SHA) <script> <numkeys> <key> ...
        _ => args.nth(2),
    };
    match key {
        Some(redis::Arg::Simple(key)) => String::from_utf8_lossy(key).into_owned(),
        _ => String::new(),
    }
}

pub(super) fn extend(key: &str, token: Token, ttl_ms: u64) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script::EXTEND.get_hash())
        .arg(1)
        .arg(key)
        .arg(token.as_bytes())
        .arg(ttl_ms);
    cmd
}

/// Raises `<key>:fence` to at least `fence` (Redlock's fencing; sent as
/// text, which Redis caches like any script).
#[cfg(feature = "redlock")]
pub(super) fn raise_fence(key: &str, fence: u64) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script::RAISE_FENCE_LUA.as_str()).arg(1);
    key_arg(&mut cmd, key, ":fence");
    cmd.arg(fence);
    cmd
}

/// `BLPOP <key>:signal <seconds>`: a waiter's sleep, cut short by a release.
pub(super) fn wait(key: &str, timeout: Duration) -> Cmd {
    let mut cmd = redis::cmd("BLPOP");
    key_arg(&mut cmd, key, ":signal");
    // Redis reads a decimal timeout in seconds; 0 would mean forever.
    cmd.arg(format!("{:.3}", timeout.as_secs_f64().max(0.001)));
    cmd
}

/// Whether an acquire's answer took the lock: `OK` from the plain `SET`,
/// `{0, fence}` from the script.
pub(super) fn took_lock(value: &Value) -> bool {
    match value {
        Value::Okay => true,
        Value::Array(answer) => matches!(answer.first(), Some(Value::Int(0))),
        _ => false,
    }
}

/// A plain `SET`'s answer: taken, or (nil) held by someone.
pub(super) fn decode_set(value: &Value) -> bool {
    !matches!(value, Value::Nil)
}

/// An extend's or finish's answer: whether the lock was still the caller's.
pub(super) fn decode_bool(value: &Value, key: &str) -> Result<bool, Error> {
    match value {
        Value::Int(n) => Ok(*n != 0),
        _ => Err(unexpected("unexpected answer from a lock script", key)),
    }
}

pub(super) fn decode_acquire(value: Value, key: &str) -> Result<Acquire, Error> {
    if let Value::Array(answer) = value {
        let mut answer = answer.into_iter();
        if let (Some(Value::Int(state)), Some(detail), None) =
            (answer.next(), answer.next(), answer.next())
        {
            let pttl = || match detail {
                Value::Int(ms) => Some(u64::try_from(ms).ok().map(Duration::from_millis)),
                _ => None,
            };
            let decoded = match state {
                0 => match detail {
                    Value::Int(fence) => Some(Acquire::Taken {
                        fence: u64::try_from(fence).ok().filter(|fence| *fence > 0),
                        asked: None,
                    }),
                    _ => None,
                },
                1 | 2 => pttl().map(|retry_after| Acquire::Held {
                    retry_after,
                    cooling: state == 2,
                }),
                3 => match detail {
                    Value::BulkString(payload) => Some(Acquire::Stored(payload)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(decoded) = decoded {
                return Ok(decoded);
            }
        }
    }
    Err(unexpected("unexpected answer from the acquire script", key))
}

fn unexpected(what: &'static str, key: &str) -> Error {
    Error::from_redis(
        redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, what)),
        key,
        Duration::ZERO,
    )
}

/// Whether an error means the connection must be replaced, the request
/// with it: it broke or stalled, or the server cannot serve writes on it
/// now (a master demoted to replica, a server loading its data) or lost
/// the scripts it had loaded.
pub(super) fn needs_new_connection(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    // A broken, stalled (our timeout) or refused connection is an I/O
    // error, whatever its kind: redis-rs 1.x makes every such error from an
    // `io::Error` (its `is_timeout`, `is_connection_dropped` and
    // `is_connection_refusal` look at nothing else). Recheck on an upgrade.
    error.is_io_error()
        || refused(error)
        || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::NoScript))
}

/// Whether a refusal lasts (a replica, loading, its master down): callers
/// are told of it for a moment without a new connection each.
pub(super) fn refuses_callers(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        error.kind(),
        ErrorKind::Server(
            ServerErrorKind::ReadOnly | ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown
        )
    )
}

/// Whether the server answered that it cannot serve the request now (a
/// replica, loading, its master down, a script running, a slot moving):
/// the connection is replaced, after a pause, and a release is sent again.
/// Whether a request went unanswered: the connection broke or stalled,
/// or a cluster's slot is half migrated (`TRYAGAIN`).
pub(super) fn unanswered(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error() || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::TryAgain))
}

pub(super) fn refused(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        error.kind(),
        ErrorKind::Server(
            ServerErrorKind::ReadOnly
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::MasterDown
                | ServerErrorKind::TryAgain
        )
    ) || error.code() == Some("BUSY")
}

#[cfg(test)]
mod tests {
    use super::{
        Finish, Token, finish, key_of, needs_new_connection, plain_set, refused, refuses_callers,
        unanswered,
    };
    use crate::backend::Ask;

    /// A server error as Redis writes it on the wire.
    fn server_error(line: &str) -> redis::RedisError {
        match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()) {
            Ok(redis::Value::ServerError(error)) => error.into(),
            other => panic!("{line}: {other:?}"),
        }
    }

    /// Which errors replace the connection, which are refusals (sent again
    /// after a pause), and which of those are told to callers for a moment.
    #[test]
    fn errors_are_classified() {
        use std::io::ErrorKind::{BrokenPipe, ConnectionRefused, Other, TimedOut};
        let io = |kind| redis::RedisError::from(std::io::Error::from(kind));
        // (error, needs a new connection, refused, refuses callers, unanswered)
        let cases = [
            (io(Other), true, false, false, true),
            (io(TimedOut), true, false, false, true),
            (io(BrokenPipe), true, false, false, true),
            (io(ConnectionRefused), true, false, false, true),
            (
                server_error("READONLY You can't write against a read only replica."),
                true,
                true,
                true,
                false,
            ),
            (
                server_error("LOADING Redis is loading the dataset in memory"),
                true,
                true,
                true,
                false,
            ),
            (
                server_error("MASTERDOWN Link with MASTER is down"),
                true,
                true,
                true,
                false,
            ),
            (
                server_error("TRYAGAIN Multiple keys request during rehashing of slot"),
                true,
                true,
                false,
                true,
            ),
            (
                server_error("BUSY Redis is busy running a script."),
                true,
                true,
                false,
                false,
            ),
            (
                server_error("NOSCRIPT No matching script."),
                true,
                false,
                false,
                false,
            ),
            (
                server_error("WRONGTYPE Operation against a key holding the wrong kind of value"),
                false,
                false,
                false,
                false,
            ),
            (
                server_error("ERR unknown command"),
                false,
                false,
                false,
                false,
            ),
            (
                server_error("NOPERM this user has no permissions"),
                false,
                false,
                false,
                false,
            ),
        ];
        for (error, new_connection, is_refused, refuses, is_unanswered) in cases {
            assert_eq!(unanswered(&error), is_unanswered, "{error}");
            assert_eq!(needs_new_connection(&error), new_connection, "{error}");
            assert_eq!(refused(&error), is_refused, "{error}");
            assert_eq!(refuses_callers(&error), refuses, "{error}");
        }
    }

    #[test]
    fn a_command_names_its_key() {
        let cmd = finish("debounce:{job:7}", Token::random(), &Finish::RELEASE);
        assert_eq!(key_of(&cmd), "debounce:{job:7}");
        let ask = Ask {
            token: Token::random(),
            ttl_ms: 1,
            fence: false,
            replay: false,
            wait_ms: 0,
        };
        let set = plain_set("debounce:{a}", ask).expect("a plain ask");
        assert_eq!(key_of(&set), "debounce:{a}");
    }
}
