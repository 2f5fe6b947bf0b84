//! The Lua scripts as sent to Redis: compacted once, sent by hash when the
//! caller awaits the answer, as text when it does not.

use std::sync::LazyLock;

use redis::{Pipeline, Script};

/// Put before the scripts that wake waiters: the `wake` function.
macro_rules! with_wake {
    ($script:literal) => {
        concat!(
            include_str!("../../scripts/wake.lua"),
            include_str!($script)
        )
    };
}

/// A script as sent: without its comment lines and indentation. Redis
/// hashes the text of every `EVAL`, and the comments are for readers.
fn compact(lua: &str) -> String {
    let mut out = String::with_capacity(lua.len());
    for line in lua.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with("--") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

static ACQUIRE_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../../scripts/acquire.lua")));
pub(super) static FINISH_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../../scripts/finish.lua")));
static EXTEND_LUA: LazyLock<String> =
    LazyLock::new(|| compact(include_str!("../../scripts/extend.lua")));
#[cfg(feature = "redlock")]
pub(super) static RAISE_FENCE_LUA: LazyLock<String> =
    LazyLock::new(|| compact(include_str!("../../scripts/raise_fence.lua")));
/// The admin API's, sent as text (rarely, and cached by Redis like any).
pub(super) static INSPECT_LUA: LazyLock<String> =
    LazyLock::new(|| compact(include_str!("../../scripts/inspect.lua")));
pub(super) static TAKE_DOWN_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../../scripts/take_down.lua")));
pub(super) static RELEASE_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../../scripts/release.lua")));

/// Sent by hash (`EVALSHA`): the connection loads them when it opens, and
/// a `NOSCRIPT` (`SCRIPT FLUSH`, a failover) makes it reopen and load them
/// again before the request is sent once more.
pub(super) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(&ACQUIRE_LUA));
pub(super) static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(&EXTEND_LUA));

/// The text of every script sent by hash.
pub(super) fn hashed() -> [&'static str; 2] {
    [ACQUIRE_LUA.as_str(), EXTEND_LUA.as_str()]
}

/// Loads every script sent by hash, in one round trip.
pub(super) fn load() -> Pipeline {
    let mut pipe = redis::pipe();
    for lua in hashed() {
        pipe.cmd("SCRIPT").arg("LOAD").arg(lua).ignore();
    }
    pipe
}

#[cfg(test)]
mod tests {
    use super::{RELEASE_LUA, compact};

    #[test]
    fn a_script_is_sent_without_comments_or_indentation() {
        let lua = "-- Why.\n-- KEYS: 1 the lock.\nif x then\n    return 1 -- kept: code\nend\n\n";
        assert_eq!(compact(lua), "if x then\nreturn 1 -- kept: code\nend\n");
        assert!(!RELEASE_LUA.contains("\n--") && !RELEASE_LUA.starts_with("--"));
        assert!(
            RELEASE_LUA.starts_with("local function wake("),
            "the wake prelude first"
        );
    }
}
