//! `redis-debounce`: see and act on the locks of redis-debounce apps.
//!
//! ```text
//! cargo install redis-debounce --features cli
//! REDIS_URL=redis://127.0.0.1/ redis-debounce list checkout:
//! ```

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use redis_debounce::{Admin, Debouncer, LockInfo, LockState};
use serde_json::{Value, json};

/// See and act on the locks of redis-debounce apps: list held keys, inspect
/// one, release a stuck lock, purge a prefix, watch them live.
///
/// Reads the app's settings: REDIS_URL (any topology: redis://,
/// redis+cluster://, redis+sentinel://, redis+redlock://) and
/// REDIS_DEBOUNCE_PREFIX. Keys are given without the prefix, as the app's
/// `#[debounce(key = ...)]` renders them.
#[derive(Debug, Parser)]
#[command(name = "redis-debounce", version)]
#[allow(clippy::doc_markdown, reason = "the help text, shown as written")]
struct Cli {
    /// The Redis URL (required: no default, so that a shell without the
    /// app's settings acts on no Redis by mistake).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    url: String,
    /// The key prefix the app uses.
    #[arg(
        long,
        env = "REDIS_DEBOUNCE_PREFIX",
        default_value = "debounce:",
        hide_env_values = true
    )]
    prefix: String,
    /// Print JSON (one document; one line per refresh for `watch`).
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait for Redis to connect and to answer each request.
    #[arg(long, global = true, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the locks under PREFIX (all by default): state, time left,
    /// waiters, fencing counter, stored result. Uses SCAN, never KEYS; on a
    /// cluster, on every master.
    List {
        /// Only keys that start with this.
        #[arg(default_value = "")]
        prefix: String,
        /// List at most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Show one lock.
    Inspect {
        /// The key, without the prefix.
        key: String,
    },
    /// Free a lock, whoever holds it (compare-and-delete of the holder
    /// shown; asks first). Exit status 0: released, or not held; 3: it
    /// changed hands or ran out before it could be released.
    Release {
        /// The key, without the prefix.
        key: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Remove the locks, waiters' markers and stored results under PREFIX,
    /// in batches (fencing counters stay; asks first).
    Purge {
        /// Only keys that start with this ("" for every key of the app).
        prefix: String,
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// A live table of the locks under PREFIX, refreshed until interrupted.
    Watch {
        /// Only keys that start with this.
        #[arg(default_value = "")]
        prefix: String,
        /// Time between refreshes.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start: {error}")),
    };
    match runtime.block_on(run(&cli)) {
        Ok(code) => code,
        Err(message) => {
            if cli.json {
                println!("{}", json!({ "error": message }));
            }
            fail(&message)
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("redis-debounce: {message}");
    ExitCode::FAILURE
}

async fn run(cli: &Cli) -> Result<ExitCode, String> {
    let target = redacted(&cli.url);
    let debouncer = Debouncer::builder()
        .prefix(&cli.prefix)
        .connect_timeout(cli.timeout)
        .response_timeout(cli.timeout)
        .open(&cli.url)
        .map_err(|error| format!("{target}: {error}"))?;
    let admin = debouncer.admin();
    let unreachable = unreachable(&target);
    match &cli.command {
        Command::List { prefix, limit } => {
            let locks = admin.list(prefix, *limit).await.map_err(unreachable)?;
            if cli.json {
                println!("{}", json!(locks.iter().map(to_json).collect::<Vec<_>>()));
            } else {
                print!("{}", table(&locks));
                if locks.len() == *limit {
                    println!("(the first {limit} by key; --limit for more)");
                }
            }
        }
        Command::Inspect { key } => {
            let lock = admin.inspect(key).await.map_err(unreachable)?;
            if cli.json {
                println!("{}", to_json(&lock));
            } else {
                print!("{}", details(&lock));
            }
        }
        Command::Release { key, yes } => return release(cli, admin, key, *yes).await,
        Command::Purge {
            prefix,
            dry_run,
            yes,
        } => return purge(cli, admin, prefix, *dry_run, *yes).await,
        Command::Watch {
            prefix,
            interval,
            limit,
            count,
        } => watch(cli, admin, &target, prefix, (*interval, *limit, *count)).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// What a failed admin call prints: the target (no password) and why.
fn unreachable(target: &str) -> impl Fn(redis_debounce::Error) -> String + '_ {
    move |error| format!("{target}: {error}")
}

async fn release(cli: &Cli, admin: Admin<'_>, key: &str, yes: bool) -> Result<ExitCode, String> {
    let target = redacted(&cli.url);
    let lock = admin.inspect(key).await.map_err(unreachable(&target))?;
    if !matches!(lock.state, LockState::Held | LockState::CoolingDown) {
        say(
            cli.json,
            &json!({"key": key, "released": false, "state": lock.state.as_str()}),
            &format!("{key}: not held ({}); nothing to release", lock.state),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let question = format!(
        "Release {key} ({}, {} left)?",
        lock.state,
        left(lock.expires_in)
    );
    if !yes && !confirm(&question)? {
        return Err("not released".into());
    }
    let released = admin.release(&lock).await.map_err(unreachable(&target))?;
    if released {
        let text = format!("{key}: released");
        say(cli.json, &json!({"key": key, "released": true}), &text);
        Ok(ExitCode::SUCCESS)
    } else {
        let text = format!("{key}: not released: it changed hands or ran out meanwhile");
        say(cli.json, &json!({"key": key, "released": false}), &text);
        Ok(ExitCode::from(3))
    }
}

async fn purge(
    cli: &Cli,
    admin: Admin<'_>,
    prefix: &str,
    dry_run: bool,
    yes: bool,
) -> Result<ExitCode, String> {
    let target = redacted(&cli.url);
    let found = admin
        .purge(prefix, true)
        .await
        .map_err(unreachable(&target))?;
    let under = format!("{}{prefix}*", cli.prefix);
    if dry_run {
        say(
            cli.json,
            &json!({"prefix": prefix, "dry_run": true, "locks": found.locks, "keys": found.keys}),
            &format!(
                "would remove {} keys of {} locks under {under}",
                found.keys, found.locks
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let question = format!(
        "Remove {} keys of {} locks under {under}?",
        found.keys, found.locks
    );
    if found.keys > 0 && !yes && !confirm(&question)? {
        return Err("nothing removed".into());
    }
    let purged = admin
        .purge(prefix, false)
        .await
        .map_err(unreachable(&target))?;
    say(
        cli.json,
        &json!({"prefix": prefix, "dry_run": false, "locks": purged.locks, "keys": purged.keys}),
        &format!(
            "removed {} keys of {} locks under {under}",
            purged.keys, purged.locks
        ),
    );
    Ok(ExitCode::SUCCESS)
}

async fn watch(
    cli: &Cli,
    admin: Admin<'_>,
    target: &str,
    prefix: &str,
    (interval, limit, count): (Duration, usize, Option<u64>),
) -> Result<(), String> {
    let mut refreshes = 0;
    loop {
        let locks = admin
            .list(prefix, limit)
            .await
            .map_err(unreachable(target))?;
        if cli.json {
            println!("{}", json!(locks.iter().map(to_json).collect::<Vec<_>>()));
        } else {
            // On a terminal, clear the screen; else one table after another.
            if std::io::stdout().is_terminal() {
                print!("\x1b[2J\x1b[H");
            } else if refreshes > 0 {
                println!();
            }
            println!(
                "{target}  {}{prefix}*  every {}  (Ctrl-C to stop)\n",
                cli.prefix,
                left(Some(interval))
            );
            print!("{}", table(&locks));
        }
        let _ = std::io::stdout().flush();
        refreshes += 1;
        if count.is_some_and(|count| refreshes >= count) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Prints `value` (with `--json`) or `text`.
fn say(json: bool, value: &Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Asks `question` on the terminal (or whatever stdin is): `true` for yes.
fn confirm(question: &str) -> Result<bool, String> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|error| format!("cannot read the answer: {error}"))?;
    if read == 0 && !std::io::stdin().is_terminal() {
        return Err("no answer (stdin is closed); pass --yes to skip the question".into());
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

fn to_json(lock: &LockInfo) -> Value {
    let ms = |d: Option<Duration>| d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut value = json!({
        "key": lock.key,
        "state": lock.state.as_str(),
        "ttl_ms": ms(lock.expires_in),
        "waiters": lock.waiters,
        "fence": lock.fence,
        "stored_bytes": lock.stored_bytes,
        "stored_ttl_ms": ms(lock.stored_expires_in),
    });
    if let (Some((held, of)), Some(map)) = (lock.nodes, value.as_object_mut()) {
        map.insert("nodes".into(), json!({"held": held, "of": of}));
    }
    value
}

fn table(locks: &[LockInfo]) -> String {
    use std::fmt::Write as _;
    if locks.is_empty() {
        return "no locks\n".into();
    }
    let redlock = locks.iter().any(|lock| lock.nodes.is_some());
    let fences: Vec<String> = locks
        .iter()
        .map(|lock| {
            lock.fence
                .map_or_else(|| "-".into(), |fence| fence.to_string())
        })
        .collect();
    let width = locks
        .iter()
        .map(|lock| lock.key.len())
        .max()
        .unwrap_or(0)
        .max(3);
    let fence_width = fences.iter().map(String::len).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:width$}  {:8}  {:>8}  {:7}  {:>fence_width$}  {:>8}",
        "KEY", "STATE", "TTL", "WAITERS", "FENCE", "STORED"
    );
    if redlock {
        out.push_str("  NODES");
    }
    out.push('\n');
    for (lock, fence) in locks.iter().zip(&fences) {
        let stored = lock.stored_bytes.map_or_else(|| "-".into(), bytes);
        let waiters = if lock.waiters { "yes" } else { "-" };
        let _ = write!(
            out,
            "{:width$}  {:8}  {:>8}  {:7}  {:>fence_width$}  {:>8}",
            lock.key,
            lock.state.as_str(),
            left(lock.expires_in),
            waiters,
            fence,
            stored
        );
        if let Some((held, of)) = lock.nodes {
            let _ = write!(out, "  {held}/{of}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{} locks", locks.len());
    out
}

fn details(lock: &LockInfo) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "key:          {}", lock.key);
    let _ = writeln!(out, "state:        {}", lock.state);
    let _ = writeln!(out, "time left:    {}", left(lock.expires_in));
    let _ = writeln!(
        out,
        "waiters:      {}",
        if lock.waiters { "yes" } else { "no" }
    );
    let fence = lock
        .fence
        .map_or_else(|| "-".into(), |fence| fence.to_string());
    let _ = writeln!(out, "fence:        {fence}");
    match lock.stored_bytes {
        Some(size) => {
            let _ = writeln!(
                out,
                "stored:       {} ({} left)",
                bytes(size),
                left(lock.stored_expires_in)
            );
        }
        None => {
            let _ = writeln!(out, "stored:       -");
        }
    }
    if let Some((held, of)) = lock.nodes {
        let _ = writeln!(out, "nodes:        held on {held} of {of}");
    }
    out
}

/// `850ms`, `4.8s`, `5m12s`, `2h05m`; `-` for none.
fn left(duration: Option<Duration>) -> String {
    let Some(duration) = duration else {
        return "-".into();
    };
    let ms = duration.as_millis();
    let s = duration.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{}.{}s", s, duration.subsec_millis() / 100)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

fn bytes(size: u64) -> String {
    if size < 1024 {
        format!("{size}B")
    } else {
        format!("{}KiB", size.div_ceil(1024))
    }
}

/// `250ms`, `3s`, `2m`: a number and a unit.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (ms, s, m)"))?;
    let (number, unit) = text.split_at(at);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(format!("`{text}`: the unit is ms, s or m")),
    };
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// The URL without its passwords: `redis://user:***@host/`, with no query
/// (`?password=`). A password may hold any character, so the user
/// information runs to the last `@`; where that cannot be told apart from
/// a path or query, nothing but the scheme is shown.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the Redis URL".into();
    };
    if !scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return "the Redis URL".into();
    }
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    match userinfo {
        None => format!("{scheme}://{rest}"),
        Some(userinfo) if userinfo.contains(['/', '?', '#']) => format!("{scheme}://(hidden)"),
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{rest}"),
            None => format!("{scheme}://{userinfo}@{rest}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{left, parse_duration, redacted};

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            redacted("redis://:hunter2@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redacted("redis://u:p@ss@h/"), "redis://u:***@h/");
        assert_eq!(
            redacted("redis+cluster://u:pw@a:1,b:2"),
            "redis+cluster://u:***@a:1,b:2"
        );
        assert_eq!(redacted("redis://h/?password=x"), "redis://h/");
        assert_eq!(redacted("nonsense:hunter2"), "the Redis URL");
        assert_eq!(
            redacted("redis:/:hunter2@127.0.0.1:1/?next=http://x"),
            "the Redis URL"
        );
        // A password with the characters that end an authority.
        assert_eq!(redacted("redis://:pa/ss@h:1/"), "redis://(hidden)");
        assert_eq!(redacted("redis://:pa?ss@h:1/"), "redis://(hidden)");
        assert_eq!(redacted("redis://u:pa#ss@h:1/"), "redis://(hidden)");
        assert_eq!(redacted("redis://u:p@ss@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(
            redacted("redis+unix:///tmp/r.sock?user=a@b&pass=secret"),
            "redis+unix://(hidden)"
        );
        assert_eq!(
            redacted("redis+unix:///tmp/r.sock?user=a&pass=secret"),
            "redis+unix:///tmp/r.sock"
        );
    }

    #[test]
    fn durations_read_and_print() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err() && parse_duration("0s").is_err());
        assert_eq!(left(Some(Duration::from_millis(4_850))), "4.8s");
        assert_eq!(left(Some(Duration::from_secs(312))), "5m12s");
        assert_eq!(left(None), "-");
    }
}
