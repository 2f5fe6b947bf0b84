//! The `debounce` span of each call and the events an operator acts on,
//! read by a recording subscriber; keys kept out of both when redacted.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One span as recorded: its name, level and fields (as recorded later too).
#[derive(Debug, Clone)]
struct SpanSeen {
    name: &'static str,
    level: Level,
    fields: HashMap<String, String>,
}

/// One event: its level, fields, and the spans it was in (outermost first).
#[derive(Debug, Clone)]
struct EventSeen {
    level: Level,
    fields: HashMap<String, String>,
    spans: Vec<u64>,
}

/// Records every span and event of the thread it is the default of.
#[derive(Default)]
struct Recorder {
    spans: Mutex<Vec<SpanSeen>>,
    events: Mutex<Vec<EventSeen>>,
    entered: Mutex<Vec<u64>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push(SpanSeen {
            name: span.metadata().name(),
            level: *span.metadata().level(),
            fields,
        });
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let at = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut self.spans.lock().unwrap()[at].fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(EventSeen {
            level: *event.metadata().level(),
            fields,
            spans: self.entered.lock().unwrap().clone(),
        });
    }
    fn enter(&self, span: &Id) {
        self.entered.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut entered = self.entered.lock().unwrap();
        if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
            entered.remove(at);
        }
    }
}

impl Recorder {
    fn debounce_spans(&self) -> Vec<(u64, SpanSeen)> {
        let spans = self.spans.lock().unwrap();
        (1..)
            .zip(spans.iter().cloned())
            .filter(|(_, span)| span.name == "debounce")
            .collect()
    }

    fn events(&self) -> Vec<EventSeen> {
        self.events.lock().unwrap().clone()
    }

    /// Everything recorded, as text: for "the key appears nowhere".
    fn all_text(&self) -> String {
        format!(
            "{:?}{:?}",
            self.spans.lock().unwrap(),
            self.events.lock().unwrap()
        )
    }
}

/// Runs `scenario` on a current-thread runtime with `recorder` as the
/// default subscriber: every span of the call is on this thread.
fn recorded<F: Future>(recorder: &Arc<Recorder>, scenario: F) -> F::Output {
    let _default = tracing::subscriber::set_default(recorder.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario)
}

#[debounce(key = "signup:{email}", ttl = 30, using = debouncer)]
async fn sign_up(
    debouncer: &Debouncer,
    email: &str,
    hold: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), Busy> {
    tracing::info!(step = "body", "creating the account");
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    Ok(())
}

#[debounce(key = "signup:{email}", ttl = 30, using = debouncer)]
fn sign_up_sync(debouncer: &Debouncer, email: &str) -> Result<(), Busy> {
    tracing::info!(step = "sync body", "creating the account");
    Ok(())
}

#[debounce(key = "report:{day}", ttl = "300ms", using = debouncer)]
async fn overrun(debouncer: &Debouncer, day: u32) -> Result<(), Busy> {
    redis_debounce::lease().expect("locked").lost().await;
    Ok(())
}

#[debounce(key = "signup:{email}", ttl = 30, using = debouncer, on_error = "allow")]
async fn sign_up_anyway(debouncer: &Debouncer, email: &str) -> Result<(), Busy> {
    Ok(())
}

/// Each call has a `debounce` span naming its fn, key and outcome; the
/// body's events are in it; a turned-away call says so at debug level.
#[test]
fn each_call_has_a_span_with_its_fn_key_and_outcome() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let recorder = Arc::new(Recorder::default());
    recorded(&recorder, async {
        let (release, hold) = tokio::sync::oneshot::channel();
        let holder = tokio::spawn({
            let debouncer = debouncer.clone();
            async move { sign_up(&debouncer, "ann@example.com", Some(hold)).await }
        });
        while debouncer.stats().held == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Held by the first until released: the second is turned away.
        let busy = sign_up(&debouncer, "ann@example.com", None)
            .await
            .unwrap_err();
        assert!(busy.is_held());
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
    });
    let spans = recorder.debounce_spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (holder_id, holder) = &spans[0];
    assert_eq!(holder.level, Level::DEBUG, "tower-http's default level");
    assert_eq!(holder.fields["function"], "sign_up");
    assert_eq!(holder.fields["key"], "signup:ann%40example.com");
    assert_eq!(holder.fields["outcome"], "acquired");
    assert_eq!(spans[1].1.fields["outcome"], "busy");
    let events = recorder.events();
    let body = events
        .iter()
        .find(|event| event.fields.get("step").map(String::as_str) == Some("body"))
        .expect("the body's event");
    assert!(
        body.spans.contains(holder_id),
        "the body runs in the call's span"
    );
    let turned_away = events
        .iter()
        .find(|event| event.spans.contains(&spans[1].0))
        .expect("an event of the busy call");
    assert_eq!(turned_away.level, Level::DEBUG);
    assert!(turned_away.fields["message"].contains("turned away"));
}

/// A sync fn's body runs in its span too.
#[test]
fn a_sync_body_runs_in_its_span() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let recorder = Arc::new(Recorder::default());
    let _default = tracing::subscriber::set_default(recorder.clone());
    sign_up_sync(&debouncer, "bo@example.com").unwrap();
    let spans = recorder.debounce_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].1.fields["function"], "sign_up_sync");
    assert_eq!(spans[0].1.fields["outcome"], "acquired");
    let body = recorder
        .events()
        .into_iter()
        .find(|event| event.fields.get("step").map(String::as_str) == Some("sync body"))
        .expect("the body's event");
    assert!(body.spans.contains(&spans[0].0));
}

/// With `redact_keys`, no argument's value is in any span or event: the
/// span shows the key's template; `span_level` sets the span's level.
#[test]
fn redacted_keys_show_only_the_template() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .redact_keys(true)
        .span_level(Level::INFO)
        .open(&server.url())
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    recorded(&recorder, async {
        sign_up(&debouncer, "cy@example.com", None).await.unwrap();
        let guard = debouncer
            .try_lock("signup:cy%40example.com", Duration::from_secs(30))
            .await
            .unwrap();
        assert!(sign_up(&debouncer, "cy@example.com", None).await.is_err());
        drop(guard);
        overrun(&debouncer, 7).await.unwrap();
    });
    let spans = recorder.debounce_spans();
    assert_eq!(spans.len(), 4);
    assert_eq!(spans[0].1.level, Level::INFO);
    assert_eq!(spans[0].1.fields["key"], "signup:{email}");
    assert_eq!(
        spans[1].1.fields["key"], "<redacted>",
        "a programmatic lock"
    );
    let all = recorder.all_text();
    assert!(
        !all.contains("cy%40example.com") && !all.contains("cy@example.com"),
        "{all}"
    );
    // The overrun's warning is in its span, which shows the template.
    let warning = recorder
        .events()
        .into_iter()
        .find(|event| event.level == Level::WARN)
        .expect("the lost lease's warning");
    assert!(warning.fields["message"].contains("past its lease"));
    assert!(warning.spans.contains(&spans[3].0));
    assert_eq!(spans[3].1.fields["key"], "report:{day}");
}

/// A backend failure under `on_error = "allow"` is a warning in the
/// call's span, and the outcome says the body ran unlocked.
#[test]
fn running_unlocked_is_a_warning_with_its_outcome() {
    let dir = redis_debounce_tests::temp_dir("spans-down");
    let debouncer = redis_debounce_tests::impatient(
        &redis_debounce_tests::unix_url(&dir.join("none.sock")),
        Duration::from_millis(500),
    );
    let recorder = Arc::new(Recorder::default());
    recorded(&recorder, async {
        sign_up_anyway(&debouncer, "di@example.com").await.unwrap();
        assert!(sign_up(&debouncer, "di@example.com", None).await.is_err());
    });
    let spans = recorder.debounce_spans();
    assert_eq!(spans[0].1.fields["outcome"], "ran_unlocked");
    assert_eq!(spans[1].1.fields["outcome"], "unavailable");
    let warnings: Vec<EventSeen> = recorder
        .events()
        .into_iter()
        .filter(|event| event.level == Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].fields["message"].contains("running without the lock"));
    assert!(warnings[0].spans.contains(&spans[0].0));
    assert!(warnings[1].fields["message"].contains("turned away"));
    assert!(warnings[1].spans.contains(&spans[1].0));
}

/// Redacted, even an error that names the key (a key of another type)
/// leaves it out of the events.
#[test]
fn redacted_errors_leave_the_key_out() {
    let server = RedisServer::start();
    let mut conn = server.connection();
    redis::cmd("RPUSH")
        .arg("debounce:{signup:eve%40example.com}")
        .arg("x")
        .exec(&mut conn)
        .unwrap();
    let debouncer = Debouncer::builder()
        .redact_keys(true)
        .open(&server.url())
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    recorded(&recorder, async {
        let busy = sign_up(&debouncer, "eve@example.com", None)
            .await
            .unwrap_err();
        assert!(matches!(
            busy.error(),
            Some(redis_debounce::Error::WrongType { .. })
        ));
    });
    let warning = recorder
        .events()
        .into_iter()
        .find(|event| event.level == Level::WARN)
        .expect("the failure's warning");
    assert!(
        warning.fields["error"].contains("another type"),
        "{warning:?}"
    );
    let all = recorder.all_text();
    assert!(!all.contains("eve@") && !all.contains("eve%40"), "{all}");
}
