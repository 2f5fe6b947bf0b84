//! The `redis-debounce` command line, the real binary, against a spawned
//! Redis whose locks this test holds as an app would. `cargo test` does not
//! build another package's binary: `scripts/test` builds it first (`cargo
//! build --all-features -p redis-debounce --bin redis-debounce`), and so
//! must a run of these tests alone.

use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use redis_debounce::{Debouncer, LockState};
use redis_debounce_tests::RedisServer;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(60);

/// The binary with the app's settings: `REDIS_URL`, and no prefix setting
/// unless a test gives one.
fn cli(url: &str) -> Command {
    let mut command = Command::new(binary());
    command
        .env("REDIS_URL", url)
        .env_remove("REDIS_DEBOUNCE_PREFIX")
        .timeout(Duration::from_secs(60));
    command
}

/// The binary, beside this test's own directory (`target/debug/`).
fn binary() -> std::path::PathBuf {
    let test = std::env::current_exe().unwrap();
    let binary = test
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join(format!("redis-debounce{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "no {}: `cargo build --all-features -p redis-debounce --bin redis-debounce` builds it (scripts/test does)",
        binary.display()
    );
    binary
}

/// Runs it off the async runtime (it blocks until the binary exits).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

/// `list` shows what an app holds: state, time left, waiters, fencing
/// counter, stored result; `--json` the same for scripts; `inspect` one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_inspect_show_what_an_app_holds() {
    let server = RedisServer::start();
    let app = Debouncer::open(&server.url()).unwrap();
    let fenced = app.lock("cart:1", LONG).fence().acquire().await.unwrap();
    let waiter = crate::spawn_waiter(&app, "cart:1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !app.admin().inspect("cart:1").await.unwrap().waiters {
        assert!(tokio::time::Instant::now() < deadline, "never flagged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cooling = app.try_lock("cart:2", LONG).await.unwrap();
    assert!(cooling.cool_down(LONG).await.unwrap());
    let _other = app.try_lock("user:9", LONG).await.unwrap();
    let fence = fenced.lease().fence().unwrap();

    let mut list = cli(&server.url());
    list.args(["list", "cart:"]);
    let output = run(list).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("KEY"), "{table}");
    let held: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(held[0], "cart:1", "{table}");
    assert_eq!(held[1], "held");
    assert!(held[2].ends_with('s'), "time left: {table}");
    assert_eq!(held[3], "yes", "waiters");
    assert_eq!(held[4], fence.to_string());
    let cool: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((cool[0], cool[1]), ("cart:2", "cooldown"));
    assert_eq!(lines[3], "2 locks");
    assert!(!table.contains("user:9"), "another prefix");

    let mut list = cli(&server.url());
    list.args(["list", "--json"]);
    let listed = json(&run(list).await);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["key"], "cart:1");
    assert_eq!(listed[0]["state"], "held");
    assert_eq!(listed[0]["waiters"], true);
    assert_eq!(listed[0]["fence"], fence);
    let ttl = listed[0]["ttl_ms"].as_u64().unwrap();
    assert!(ttl > 30_000 && ttl <= 60_000, "{ttl}");
    assert_eq!(listed[2]["key"], "user:9");

    let mut inspect = cli(&server.url());
    inspect.args(["inspect", "cart:1", "--json"]);
    let one = json(&run(inspect).await);
    // The time left moves between two reads: the rest is the same.
    let mut expected = listed[0].clone();
    expected["ttl_ms"] = one["ttl_ms"].clone();
    assert_eq!(one, expected);
    let mut inspect = cli(&server.url());
    inspect.args(["inspect", "cart:1"]);
    let text = stdout(&run(inspect).await);
    assert!(text.contains("state:        held"), "{text}");
    assert!(text.contains(&format!("fence:        {fence}")), "{text}");
    waiter.abort();
}

/// `release` asks first: "n" keeps the lock; "y" frees it, whoever holds
/// it, and the waiting app caller gets it at once; `--yes` skips the
/// question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_asks_then_frees_a_stuck_lock() {
    let server = RedisServer::start();
    let app = Debouncer::open(&server.url()).unwrap();
    let stuck = app.try_lock("import:7", LONG).await.unwrap();

    let mut no = cli(&server.url());
    no.args(["release", "import:7"]).write_stdin("n\n");
    let output = run(no).await;
    assert!(!output.status.success(), "declined is not done");
    assert!(
        stderr(&output).contains("Release import:7 (held,"),
        "{}",
        stderr(&output)
    );
    assert!(!stuck.lease().is_lost());
    assert_eq!(
        app.admin().inspect("import:7").await.unwrap().state,
        LockState::Held
    );

    let mut closed = cli(&server.url());
    closed.args(["release", "import:7"]).write_stdin("");
    let output = run(closed).await;
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));

    let waiter = crate::spawn_waiter(&app, "import:7");
    let mut yes = cli(&server.url());
    yes.args(["release", "import:7"]).write_stdin("y\n");
    let output = run(yes).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "import:7: released");
    let next = tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("woken by the release")
        .unwrap()
        .unwrap();
    assert!(
        !stuck.release().await.unwrap(),
        "the stuck holder's is gone"
    );

    let mut json_yes = cli(&server.url());
    json_yes.args(["release", "import:7", "--yes", "--json"]);
    let answer = json(&run(json_yes).await);
    assert_eq!(answer["released"], true);
    assert!(!next.release().await.unwrap());

    let mut nothing = cli(&server.url());
    nothing.args(["release", "import:7", "--yes"]);
    let output = run(nothing).await;
    assert!(output.status.success());
    assert!(stdout(&output).contains("not held"), "{}", stdout(&output));
}

/// `purge --dry-run` counts and removes nothing; `purge` asks, then
/// removes the prefix's locks and stored results and keeps its fencing
/// counters and other prefixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_counts_asks_then_removes_a_prefix() {
    let server = RedisServer::start();
    let app = Debouncer::open(&server.url()).unwrap();
    let fenced = app.lock("tmp:1", LONG).fence().acquire().await.unwrap();
    let _two = app.try_lock("tmp:2", LONG).await.unwrap();
    let _kept = app.try_lock("keep:1", LONG).await.unwrap();

    let mut dry = cli(&server.url());
    dry.args(["purge", "tmp:", "--dry-run", "--json"]);
    let counted = json(&run(dry).await);
    assert_eq!(
        (counted["locks"].as_u64(), counted["keys"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(app.admin().list("tmp:", 10).await.unwrap().len(), 2);

    let mut declined = cli(&server.url());
    declined.args(["purge", "tmp:"]).write_stdin("n\n");
    let output = run(declined).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Remove 2 keys of 2 locks under debounce:tmp:*?"),
        "{}",
        stderr(&output)
    );
    assert_eq!(app.admin().list("tmp:", 10).await.unwrap().len(), 2);

    let mut purge = cli(&server.url());
    purge.args(["purge", "tmp:", "--yes"]);
    let output = run(purge).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "removed 2 keys of 2 locks under debounce:tmp:*"
    );
    assert!(app.admin().list("tmp:", 10).await.unwrap().is_empty());
    assert_eq!(app.admin().list("keep:", 10).await.unwrap().len(), 1);
    let keys = server.keys();
    assert!(
        keys.contains(&"debounce:{tmp:1}:fence".to_owned()),
        "{keys:?}"
    );
    let next = app.lock("tmp:1", LONG).fence().acquire().await.unwrap();
    assert!(next.lease().fence() > fenced.lease().fence());
}

/// `watch` refreshes: with `--json`, one line per refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refreshes_until_stopped() {
    let server = RedisServer::start();
    let app = Debouncer::open(&server.url()).unwrap();
    let _held = app.try_lock("feed:1", LONG).await.unwrap();
    let mut watch = cli(&server.url());
    watch.args(["watch", "--json", "--count", "3", "--interval", "50ms"]);
    let output = run(watch).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let refreshes: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(refreshes.len(), 3);
    assert!(refreshes.iter().all(|locks| locks[0]["key"] == "feed:1"));

    // Not a terminal: no screen clearing, one table after another.
    let mut table = cli(&server.url());
    table.args(["watch", "--count", "2", "--interval", "50ms"]);
    let output = run(table).await;
    let screens = stdout(&output);
    assert!(!screens.contains('\x1b'), "{screens:?}");
    assert_eq!(screens.matches("feed:1").count(), 2, "{screens}");
    assert!(screens.contains("Ctrl-C"), "{screens}");
}

/// The app's prefix setting is read from `REDIS_DEBOUNCE_PREFIX`, as
/// `Builder::open_env` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_apps_prefix() {
    let server = RedisServer::start();
    let app = Debouncer::builder()
        .prefix("shop:")
        .open(&server.url())
        .unwrap();
    let _held = app.try_lock("order:1", LONG).await.unwrap();
    let mut list = cli(&server.url());
    list.args(["list", "--json"]);
    assert_eq!(json(&run(list).await), serde_json::json!([]));
    let mut list = cli(&server.url());
    list.args(["list", "--json"])
        .env("REDIS_DEBOUNCE_PREFIX", "shop:");
    assert_eq!(json(&run(list).await)[0]["key"], "order:1");
}

/// Redis unreachable: a clear message naming the target without its
/// password, and a non-zero status; a bad URL likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_a_clear_failure_without_the_password() {
    let port = redis_debounce_tests::free_port();
    let url = format!("redis://:s3cret-pw@127.0.0.1:{port}/");
    for command in [
        &["list"][..],
        &["inspect", "k"],
        &["release", "k", "--yes"],
        &["purge", "p", "--yes"],
        &["watch"],
    ] {
        let mut cli = cli(&url);
        cli.args(command).args(["--timeout", "500ms"]);
        let output = run(cli).await;
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let message = stderr(&output);
        assert!(
            message.starts_with(&format!("redis-debounce: redis://:***@127.0.0.1:{port}/: ")),
            "{message}"
        );
        assert!(
            !message.contains("s3cret") && !stdout(&output).contains("s3cret"),
            "{message}"
        );
    }
    let mut scripted = cli(&url);
    scripted.args(["list", "--json", "--timeout", "500ms"]);
    let output = run(scripted).await;
    assert_eq!(output.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&output.stdout).expect("a JSON error");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("***@127.0.0.1") && !message.contains("s3cret"),
        "{message}"
    );
    let mut bad = cli("http://example.com/");
    bad.arg("list");
    let output = run(bad).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a Redis URL"),
        "{}",
        stderr(&output)
    );
}

/// The README's help text is the binary's.
#[test]
fn the_readme_shows_the_current_help() {
    let output = cli("redis://127.0.0.1/").arg("-h").output().unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(
        readme.contains(help.trim_end()),
        "README.md's help block is stale; the binary says:\n{help}"
    );
}

/// On a cluster, `list` scans every master.
#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_a_cluster_finds_the_keys_of_every_master() {
    let backend = tokio::task::spawn_blocking(redis_debounce_tests::Backend::cluster)
        .await
        .unwrap();
    let redis_debounce_tests::Topology::Cluster(cluster) = backend.topology.as_ref().unwrap()
    else {
        unreachable!()
    };
    let mut held = Vec::new();
    let mut masters = std::collections::HashSet::new();
    for n in 0..12 {
        let key = format!("c:{n:02}");
        masters.insert(cluster.master_of(&format!("debounce:{{{key}}}")));
        held.push(backend.debouncer.try_lock(&key, LONG).await.unwrap());
    }
    assert!(masters.len() > 1, "the keys are spread over the masters");
    let mut list = cli(&cluster.url());
    list.args(["list", "c:", "--json"]);
    let listed = json(&run(list).await);
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|lock| lock["key"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..12).map(|n| format!("c:{n:02}")).collect();
    assert_eq!(keys, expected);
}

/// The README's ACL rule for an operator is enough for every command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_operator_acl_is_enough() {
    const RULE: &str = "on >secret ~debounce:* resetchannels -@all +scan +eval +unlink +get +pttl +strlen +time +del +exists +rpush +pexpire";
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(
        readme.contains(&format!("ACL SETUSER ops {RULE}")),
        "the README's rule"
    );
    let server = RedisServer::start();
    let mut admin = server.connection();
    let mut command = redis::cmd("ACL");
    command.arg("SETUSER").arg("ops");
    for part in RULE.split_whitespace() {
        command.arg(part);
    }
    command.exec(&mut admin).expect("ACL SETUSER");
    let app = Debouncer::open(&server.url()).unwrap();
    let _held = app.lock("acl:1", LONG).fence().acquire().await.unwrap();
    let _other = app.try_lock("acl:2", LONG).await.unwrap();
    let ops = format!("{}?user=ops&pass=secret", server.url());
    for command in [
        &["list", "--json"][..],
        &["inspect", "acl:1"],
        &["watch", "--count", "1"],
        &["release", "acl:1", "--yes"],
        &["purge", "acl:", "--yes"],
    ] {
        let mut cli = cli(&ops);
        cli.args(command);
        let output = run(cli).await;
        assert!(output.status.success(), "{command:?}: {}", stderr(&output));
    }
    assert!(app.admin().list("", 10).await.unwrap().is_empty());
    // Without `+unlink`, the purge fails with a clear error naming it.
    let mut revoke = redis::cmd("ACL");
    revoke.arg("SETUSER").arg("ops").arg("-unlink");
    revoke.exec(&mut admin).unwrap();
    let _again = app.try_lock("acl:3", LONG).await.unwrap();
    let mut purge = cli(&ops);
    purge.args(["purge", "acl:", "--yes"]);
    let output = run(purge).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).to_lowercase().contains("noperm") || stderr(&output).contains("permission"),
        "{}",
        stderr(&output)
    );
}

/// No `REDIS_URL` and no `--url`: a usage error naming it, not a default
/// Redis.
#[test]
fn without_a_url_it_acts_on_no_redis() {
    let mut command = cli("unused");
    command.env_remove("REDIS_URL").arg("list");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&output).contains("REDIS_URL") || stderr(&output).contains("--url"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
}

/// A lock that changes hands while `release` asks is left alone: the new
/// holder keeps it, and the exit status (3) says nothing was released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_that_changes_hands_while_asking_is_left_alone() {
    use std::io::{BufRead as _, Write as _};
    let server = RedisServer::start();
    let app = Debouncer::open(&server.url()).unwrap();
    let first = app.try_lock("swap:1", LONG).await.unwrap();
    let mut child = std::process::Command::new(binary())
        .args(["release", "swap:1"])
        .env("REDIS_URL", server.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Asked: the question is on stderr, its line not yet ended.
    let asked = tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::new(stderr);
        let mut question = Vec::new();
        reader.read_until(b']', &mut question).unwrap();
        String::from_utf8(question).unwrap()
    })
    .await
    .unwrap();
    assert!(asked.starts_with("Release swap:1 (held,"), "{asked}");
    assert!(first.release().await.unwrap());
    let second = app.try_lock("swap:1", LONG).await.unwrap();
    stdin.write_all(b"y\n").unwrap();
    drop(stdin);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stdout(&output).contains("not released"),
        "{}",
        stdout(&output)
    );
    assert!(!second.lease().is_lost());
    assert!(second.release().await.unwrap(), "still the new holder's");
}
