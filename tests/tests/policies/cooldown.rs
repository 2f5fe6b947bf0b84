//! `cooldown`: at most one successful run per key per window. Inside the
//! window a call is busy with the time left; after it, the body runs again;
//! an `Err` releases the key at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, on_both_backends};
use tokio::time::Instant;

/// The window under test: long enough that a loaded machine's second call
/// still falls inside it (the memory variants run on the paused clock), and
/// a wait that outlasts it.
const WINDOW: Duration = Duration::from_secs(5);
const PAST_THE_WINDOW: Duration = Duration::from_secs(6);
const WITHIN_A_WHILE: Duration = Duration::from_secs(20);

#[derive(Debug)]
enum SendError {
    Busy(Busy),
    Rejected,
}

impl From<Busy> for SendError {
    fn from(busy: Busy) -> Self {
        SendError::Busy(busy)
    }
}

#[debounce(key = "sms:{phone}", ttl = 30, cooldown = "5s", using = debouncer)]
async fn send_sms(
    debouncer: &Debouncer,
    phone: &str,
    ok: bool,
    sent: &AtomicUsize,
) -> Result<(), SendError> {
    if !ok {
        return Err(SendError::Rejected);
    }
    sent.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[debounce(key = "mail:{to}", ttl = 30, cooldown = "5s", using = debouncer)]
fn send_mail(debouncer: &Debouncer, to: &str, ok: bool) -> Result<u32, SendError> {
    if !ok {
        return Err(SendError::Rejected);
    }
    Ok(1)
}

/// A return type that is not a `Result`: any value counts as success.
#[debounce(key = "ping:{n}", ttl = 30, cooldown = "5s", using = debouncer, busy = 0)]
async fn ping(debouncer: &Debouncer, n: u32) -> u32 {
    n
}

fn assert_cooling(answer: Result<(), SendError>) {
    match answer {
        Err(SendError::Busy(busy)) => {
            assert!(busy.is_cooling_down(), "{busy}");
            assert!(!busy.is_held() && busy.error().is_none());
            let left = busy.retry_after().expect("the time left");
            assert!(left > Duration::ZERO && left <= WINDOW, "{left:?}");
            assert!(busy.to_string().contains("cooling down"), "{busy}");
        }
        other => panic!("expected a cooldown, got {other:?}"),
    }
}

async fn async_cooldown(backend: Backend) {
    let debouncer = &backend.debouncer;
    let sent = AtomicUsize::new(0);
    send_sms(debouncer, "555", true, &sent).await.unwrap();
    assert_cooling(send_sms(debouncer, "555", true, &sent).await);
    assert_eq!(
        sent.load(Ordering::SeqCst),
        1,
        "no second run inside the window"
    );

    tokio::time::sleep(PAST_THE_WINDOW).await;
    send_sms(debouncer, "555", true, &sent)
        .await
        .expect("the window is over");
    assert_eq!(sent.load(Ordering::SeqCst), 2);

    // An `Err` releases at once: the next call runs (and fails) again.
    assert!(matches!(
        send_sms(debouncer, "777", false, &sent).await,
        Err(SendError::Rejected)
    ));
    assert!(matches!(
        send_sms(debouncer, "777", false, &sent).await,
        Err(SendError::Rejected)
    ));
    send_sms(debouncer, "777", true, &sent).await.unwrap();

    assert_eq!(ping(debouncer, 9).await, 9);
    assert_eq!(
        ping(debouncer, 9).await,
        0,
        "a plain value counts as success"
    );
}

async fn sync_cooldown(backend: Backend) {
    let debouncer = backend.debouncer.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(send_mail(&debouncer, "a@b", true).unwrap(), 1);
        match send_mail(&debouncer, "a@b", true) {
            Err(SendError::Busy(busy)) => assert!(busy.is_cooling_down(), "{busy}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            send_mail(&debouncer, "c@d", false),
            Err(SendError::Rejected)
        ));
        assert!(matches!(
            send_mail(&debouncer, "c@d", false),
            Err(SendError::Rejected)
        ));
        std::thread::sleep(PAST_THE_WINDOW);
        assert_eq!(send_mail(&debouncer, "a@b", true).unwrap(), 1);
    })
    .await
    .expect("the blocking task");
}

async fn guard_cool_down(backend: Backend) {
    let debouncer = &backend.debouncer;
    let guard = debouncer
        .try_lock("export:1", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(guard.cool_down(WINDOW).await.unwrap(), "it was ours");
    let busy = debouncer
        .try_lock("export:1", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(busy.is_cooling_down(), "{busy}");

    // Nobody owns a cooldown: it ends with its window, not with a release.
    let started = Instant::now();
    loop {
        match debouncer
            .try_lock("export:1", Duration::from_secs(30))
            .await
        {
            Ok(guard) => {
                assert!(started.elapsed() >= WINDOW / 2, "ended early");
                drop(guard);
                break;
            }
            Err(busy) => {
                assert!(busy.is_cooling_down(), "{busy}");
                assert!(started.elapsed() < WITHIN_A_WHILE, "never ended");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    let stale = debouncer
        .try_lock("export:2", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let next = debouncer
        .try_lock("export:2", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        !stale.cool_down(WINDOW).await.unwrap(),
        "an expired holder cannot start a cooldown"
    );
    assert!(
        debouncer
            .try_lock("export:2", Duration::from_secs(30))
            .await
            .unwrap_err()
            .is_held()
    );
    assert!(next.release().await.unwrap());
    assert!(
        debouncer
            .try_lock("k", Duration::from_secs(1))
            .await
            .unwrap()
            .cool_down(Duration::ZERO)
            .await
            .is_err()
    );
}

/// A waiter that gives up inside a cooldown is told it is cooling down, not
/// that someone holds the key.
async fn a_waiter_in_a_cooldown_is_told_so(backend: Backend) {
    let debouncer = &backend.debouncer;
    let guard = debouncer
        .try_lock("export:3", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(guard.cool_down(Duration::from_secs(3600)).await.unwrap());
    let busy = debouncer
        .lock("export:3", Duration::from_secs(30))
        .wait(Duration::from_millis(300))
        .acquire()
        .await
        .unwrap_err();
    assert!(busy.is_cooling_down() && !busy.is_held(), "{busy:?}");
    assert!(busy.retry_after().expect("the time left") > Duration::from_secs(3000));
}

on_both_backends! {
    #[paused] a_waiter_in_a_cooldown_is_told_so => super::a_waiter_in_a_cooldown_is_told_so;
    #[paused] async_fn_cools_down_after_success => super::async_cooldown;
    sync_fn_cools_down_after_success => super::sync_cooldown;
    #[paused] guard_cool_down_keeps_the_key_for_the_window => super::guard_cool_down;
}
