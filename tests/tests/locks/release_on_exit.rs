//! The lock is released on every exit of the body: return, `?`, early
//! return, panic, and a future dropped mid-body; for async and sync fns.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, on_both_backends};

const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug)]
#[expect(dead_code, reason = "the fields are read through Debug")]
enum JobError {
    Busy(Busy),
    Parse(std::num::ParseIntError),
}

impl From<Busy> for JobError {
    fn from(busy: Busy) -> Self {
        JobError::Busy(busy)
    }
}

impl From<std::num::ParseIntError> for JobError {
    fn from(e: std::num::ParseIntError) -> Self {
        JobError::Parse(e)
    }
}

#[derive(Clone, Copy)]
enum Exit {
    Return,
    Question,
    Early,
    Panic,
    Hang,
}

#[debounce(key = "job:{id}", ttl = 60, using = debouncer)]
async fn job(
    debouncer: &Debouncer,
    id: u32,
    exit: Exit,
    inside: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<u32, JobError> {
    if let Some(inside) = inside {
        let _ = inside.send(());
    }
    match exit {
        Exit::Return => {}
        Exit::Question => {
            let n: u32 = "not a number".parse()?;
            return Ok(n);
        }
        Exit::Early => return Ok(0),
        Exit::Panic => panic!("the body panicked"),
        Exit::Hang => std::future::pending::<()>().await,
    }
    Ok(id)
}

#[debounce(key = "job:{id}", ttl = 60, using = debouncer)]
async fn hold(
    debouncer: &Debouncer,
    id: u32,
    inside: tokio::sync::oneshot::Sender<()>,
) -> Result<(), Busy> {
    let _ = inside.send(());
    std::future::pending().await
}

#[debounce(key = "job:{id}", ttl = 60, using = debouncer)]
fn job_sync(debouncer: &Debouncer, id: u32, exit: Exit) -> Result<u32, JobError> {
    match exit {
        Exit::Return | Exit::Hang => {}
        Exit::Question => {
            let n: u32 = "not a number".parse()?;
            return Ok(n);
        }
        Exit::Early => return Ok(0),
        Exit::Panic => panic!("the body panicked"),
    }
    Ok(id)
}

/// The key is free again: a new holder gets it. Requests of one
/// `Debouncer` are ordered, so the queued release is seen first.
async fn assert_free(debouncer: &Debouncer, key: &str) {
    let guard = debouncer
        .try_lock(key, LEASE)
        .await
        .unwrap_or_else(|busy| panic!("`{key}` was left locked: {busy}"));
    assert!(guard.release().await.expect("release"), "it was ours");
}

async fn async_exits(backend: Backend) {
    let debouncer = &backend.debouncer;

    assert_eq!(job(debouncer, 1, Exit::Return, None).await.unwrap(), 1);
    assert_free(debouncer, "job:1").await;

    assert!(matches!(
        job(debouncer, 2, Exit::Question, None).await,
        Err(JobError::Parse(_))
    ));
    assert_free(debouncer, "job:2").await;

    assert_eq!(job(debouncer, 3, Exit::Early, None).await.unwrap(), 0);
    assert_free(debouncer, "job:3").await;

    let panicked = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { job(&debouncer, 4, Exit::Panic, None).await }
    })
    .await;
    assert!(panicked.unwrap_err().is_panic(), "the panic propagates");
    assert_free(debouncer, "job:4").await;

    // Cancelled mid-body, as a timeout or a disconnected client does: the
    // future is dropped once the body has signalled that it runs.
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel();
    let hang = job(debouncer, 5, Exit::Hang, Some(inside_tx));
    tokio::select! {
        answer = hang => panic!("the body hangs, yet: {answer:?}"),
        inside = inside_rx => inside.expect("the body started"),
    }
    assert_free(debouncer, "job:5").await;

    // A task aborted while its body holds the lock.
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { hold(&debouncer, 6, inside_tx).await }
    });
    inside_rx.await.expect("the body started");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_free(debouncer, "job:6").await;
}

async fn sync_exits(backend: Backend) {
    let debouncer = backend.debouncer.clone();
    // Sync fns run on a blocking thread, as an application would run them.
    let answers = tokio::task::spawn_blocking(move || {
        let ran = job_sync(&debouncer, 11, Exit::Return).map_err(|e| format!("{e:?}"));
        let question = job_sync(&debouncer, 12, Exit::Question);
        let early = job_sync(&debouncer, 13, Exit::Early).map_err(|e| format!("{e:?}"));
        let panicked = std::panic::catch_unwind(|| job_sync(&debouncer, 14, Exit::Panic));
        // A sync call sends its release without waiting for the answer;
        // this thread's flush reads it: the releases have run in Redis.
        debouncer.flush_blocking().expect("flushed");
        (
            ran,
            matches!(question, Err(JobError::Parse(_))),
            early,
            panicked.is_err(),
        )
    })
    .await
    .expect("the blocking task");
    assert_eq!(answers.0, Ok(11));
    assert!(answers.1, "`?` returned the parse error");
    assert_eq!(answers.2, Ok(0));
    assert!(answers.3, "the panic propagates");
    // Flushed: Redis shows no lock, seen from another connection.
    if let Some(keys) = backend.keys() {
        assert!(keys.is_empty(), "left behind: {keys:?}");
    }
    for id in 11..=14 {
        assert_free(&backend.debouncer, &format!("job:{id}")).await;
    }
}

on_both_backends! {
    async_fn_releases_on_every_exit => super::async_exits;
    sync_fn_releases_on_every_exit => super::sync_exits;
}
