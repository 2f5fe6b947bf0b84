//! Redis answering the unexpected: a stored result that is corrupted,
//! truncated or from a newer format version, and a server out of memory.
//! Each is a typed error (the body does not run, nothing is reported as
//! held), never a panic and never a wrong value.

use std::sync::atomic::{AtomicUsize, Ordering};

use redis::Commands as _;
use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::RedisServer;

const RESULT: &str = "debounce:{charge:1}:result";

#[debounce(key = "charge:{id}", ttl = 30, replay = "1h", using = debouncer)]
async fn charge(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> Result<Vec<u32>, Busy> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(vec![id; 8])
}

fn assert_replay_error(answer: Result<Vec<u32>, Busy>, runs: &AtomicUsize) {
    let busy = answer.expect_err("the stored result cannot be used");
    assert!(!busy.is_held(), "{busy}");
    assert!(
        matches!(busy.error(), Some(Error::Replay { .. })),
        "{busy:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the body did not run again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_result_is_a_typed_error() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let mut raw = server.connection();
    let runs = AtomicUsize::new(0);
    assert_eq!(charge(&debouncer, 1, &runs).await.unwrap(), vec![1; 8]);
    debouncer.flush().await.unwrap();
    let stored: Vec<u8> = raw.get(RESULT).unwrap();
    assert_eq!(
        charge(&debouncer, 1, &runs).await.unwrap(),
        vec![1; 8],
        "replayed"
    );

    // Truncated, as by a partial write.
    let () = raw.set(RESULT, &stored[..stored.len() - 4]).unwrap();
    assert_replay_error(charge(&debouncer, 1, &runs).await, &runs);
    // Corrupted.
    let mut corrupted = stored.clone();
    let last = corrupted.len() - 1;
    corrupted[last] = b'#';
    let () = raw.set(RESULT, corrupted).unwrap();
    assert_replay_error(charge(&debouncer, 1, &runs).await, &runs);
    // Written by a newer version, in a format this one does not read.
    let mut newer = stored.clone();
    newer[..3].copy_from_slice(b"rd9");
    let () = raw.set(RESULT, newer).unwrap();
    assert_replay_error(charge(&debouncer, 1, &runs).await, &runs);
    // No header at all.
    let () = raw.set(RESULT, "garbage").unwrap();
    assert_replay_error(charge(&debouncer, 1, &runs).await, &runs);
}

#[debounce(key = "plain:{id}", ttl = 30, using = debouncer)]
async fn plain(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> Result<(), Busy> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// `maxmemory` reached (`noeviction`): every kind of acquire is refused
/// with a typed error, and the body does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_memory_is_a_typed_error() {
    let server = RedisServer::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let runs = AtomicUsize::new(0);
    // A plain SET, and the acquire script (replay asks for it).
    for answer in [
        plain(&debouncer, 1, &runs).await.map(|()| Vec::new()),
        charge(&debouncer, 1, &runs).await,
    ] {
        let busy = answer.expect_err("out of memory");
        assert!(!busy.is_held(), "{busy}");
        let error = busy.error().expect("the server's error");
        assert!(
            matches!(error, Error::Backend { .. } | Error::Script { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("OOM"), "{error}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}
