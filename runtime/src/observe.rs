//! What an operator sees: a `tracing` span per debounced call, events for
//! what needs attention, the counters behind `Debouncer::stats`, and,
//! with the `metrics` feature, the same figures through the `metrics`
//! facade. One [`Observer`] per `Debouncer`, shared with its backend (whose
//! connection thread reports failed releases).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tracing::{Level, Span};

/// How a debounced call started: the `outcome` of its span and the label
/// of its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It took the lock and ran.
    Acquired,
    /// Another caller held the key: turned away.
    Busy,
    /// The key was in a finished call's `cooldown`: turned away.
    CoolingDown,
    /// A stored result answered it (`replay`).
    Replayed,
    /// The backend failed (or the call was misconfigured): turned away
    /// (`on_error = "reject"`).
    Unavailable,
    /// The backend failed and the body ran without the lock
    /// (`on_error = "allow"`).
    RanUnlocked,
}

impl Outcome {
    /// Every outcome, in the order of [`as_str`](Self::as_str)'s table.
    pub const ALL: [Outcome; 6] = [
        Outcome::Acquired,
        Outcome::Busy,
        Outcome::CoolingDown,
        Outcome::Replayed,
        Outcome::Unavailable,
        Outcome::RanUnlocked,
    ];

    /// The name used in spans and metric labels: `acquired`, `busy`,
    /// `cooling_down`, `replayed`, `unavailable`, `ran_unlocked`.
    ///
    /// ```
    /// assert_eq!(redis_debounce::Outcome::CoolingDown.as_str(), "cooling_down");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Acquired => "acquired",
            Outcome::Busy => "busy",
            Outcome::CoolingDown => "cooling_down",
            Outcome::Replayed => "replayed",
            Outcome::Unavailable => "unavailable",
            Outcome::RanUnlocked => "ran_unlocked",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a `Debouncer`'s counters since it was made, for those who
/// use no metrics library: [`Debouncer::stats`](crate::Debouncer::stats).
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let debouncer = redis_debounce::Debouncer::memory();
/// let guard = debouncer.try_lock("report:7", Duration::from_secs(30)).await.unwrap();
/// assert!(debouncer.try_lock("report:7", Duration::from_secs(30)).await.is_err());
/// let stats = debouncer.stats();
/// assert_eq!((stats.acquired, stats.busy, stats.held), (1, 1, 1));
/// drop(guard);
/// assert_eq!(debouncer.stats().held, 0);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls that took the lock.
    pub acquired: u64,
    /// Calls turned away because another caller held the key.
    pub busy: u64,
    /// Calls turned away by a cooldown.
    pub cooling_down: u64,
    /// Calls answered with a stored result.
    pub replayed: u64,
    /// Calls turned away because the backend failed.
    pub unavailable: u64,
    /// Calls that ran without the lock after a backend failure
    /// (`on_error = "allow"`).
    pub ran_unlocked: u64,
    /// Callers waiting for a key now (`wait`).
    pub waiting: u64,
    /// Locks held now by this `Debouncer`'s callers.
    pub held: u64,
    /// Leases lost while held: renewal found the lock gone or someone
    /// else's, or the holder gave it up after its lease ran out.
    pub lost_leases: u64,
    /// Releases that could not be made (the lease then ran out by itself).
    /// On Redlock, counted per node.
    pub release_failures: u64,
    /// The time locks were held (until given up), summed. (The time
    /// calls take to acquire is the `metrics` feature's histogram.)
    pub hold_time: Duration,
}

impl Stats {
    /// The calls with this outcome.
    ///
    /// ```
    /// use redis_debounce::{Outcome, Stats};
    /// assert_eq!(Stats::default().calls(Outcome::Busy), 0);
    /// ```
    #[must_use]
    pub fn calls(&self, outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Acquired => self.acquired,
            Outcome::Busy => self.busy,
            Outcome::CoolingDown => self.cooling_down,
            Outcome::Replayed => self.replayed,
            Outcome::Unavailable => self.unavailable,
            Outcome::RanUnlocked => self.ran_unlocked,
        }
    }
}

/// Where a call comes from: a `#[debounce]` fn (each expansion has one, a
/// static), or the programmatic API. It names the call in spans and
/// metric labels, and keeps the call's metric handles, registered with the
/// recorder on first use (no lookup and no allocation after that).
#[derive(Debug)]
pub struct Site {
    function: &'static str,
    template: &'static str,
    #[cfg(feature = "metrics")]
    handles: std::sync::OnceLock<Handles>,
}

impl Site {
    /// A fn's site: its name and its key's template.
    #[must_use]
    pub const fn new(function: &'static str, template: &'static str) -> Self {
        Site {
            function,
            template,
            #[cfg(feature = "metrics")]
            handles: std::sync::OnceLock::new(),
        }
    }

    #[cfg(feature = "metrics")]
    fn handles(&self) -> &Handles {
        self.handles
            .get_or_init(|| Handles::register(self.function))
    }
}

/// The site of the programmatic API (`try_lock`, `lock(..).acquire()`).
pub(crate) static PROGRAMMATIC: Site = Site::new("", "");

/// One site's metrics.
#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Handles {
    /// By [`Outcome`], in its order.
    calls: [metrics::Counter; 6],
    acquire: [metrics::Histogram; 6],
    hold: metrics::Histogram,
    held: metrics::Gauge,
    waiting: metrics::Gauge,
    lost: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Handles {
    fn register(function: &'static str) -> Self {
        let by_outcome = |name: &'static str| Outcome::ALL.map(|outcome| (name, outcome.as_str()));
        Handles {
            calls: by_outcome(names::CALLS).map(|(name, outcome)| {
                metrics::counter!(name, "function" => function, "outcome" => outcome)
            }),
            acquire: by_outcome(names::ACQUIRE_SECONDS).map(|(name, outcome)| {
                metrics::histogram!(name, "function" => function, "outcome" => outcome)
            }),
            hold: metrics::histogram!(names::HOLD_SECONDS, "function" => function),
            held: metrics::gauge!(names::HELD, "function" => function),
            waiting: metrics::gauge!(names::WAITING, "function" => function),
            lost: metrics::counter!(names::LOST_LEASES, "function" => function),
        }
    }
}

/// The metric names (see the README's "Operating" section).
#[cfg(feature = "metrics")]
pub(crate) mod names {
    pub(crate) const CALLS: &str = "redis_debounce_calls_total";
    pub(crate) const ACQUIRE_SECONDS: &str = "redis_debounce_acquire_seconds";
    pub(crate) const HOLD_SECONDS: &str = "redis_debounce_hold_seconds";
    pub(crate) const WAITING: &str = "redis_debounce_waiting";
    pub(crate) const HELD: &str = "redis_debounce_held";
    pub(crate) const LOST_LEASES: &str = "redis_debounce_lost_leases_total";
    pub(crate) const RELEASE_FAILURES: &str = "redis_debounce_release_failures_total";
}

/// The counters and the trace settings of one `Debouncer`.
#[derive(Debug)]
pub(crate) struct Observer {
    /// Keys are kept out of spans and events.
    redact: bool,
    /// The level of the call span.
    level: Level,
    calls: [AtomicU64; 6],
    waiting: AtomicU64,
    held: AtomicU64,
    lost: AtomicU64,
    release_failures: AtomicU64,
    hold_nanos: AtomicU64,
}

/// What a span or an event shows of a key when keys are redacted.
const REDACTED: &str = "<redacted>";

impl Observer {
    pub(crate) fn new(redact: bool, level: Level) -> Self {
        #[cfg(feature = "metrics")]
        describe();
        Observer {
            redact,
            level,
            calls: Default::default(),
            waiting: AtomicU64::new(0),
            held: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            release_failures: AtomicU64::new(0),
            hold_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let calls = |outcome: Outcome| self.calls[outcome as usize].load(Relaxed);
        Stats {
            acquired: calls(Outcome::Acquired),
            busy: calls(Outcome::Busy),
            cooling_down: calls(Outcome::CoolingDown),
            replayed: calls(Outcome::Replayed),
            unavailable: calls(Outcome::Unavailable),
            ran_unlocked: calls(Outcome::RanUnlocked),
            waiting: self.waiting.load(Relaxed),
            held: self.held.load(Relaxed),
            lost_leases: self.lost.load(Relaxed),
            release_failures: self.release_failures.load(Relaxed),
            hold_time: Duration::from_nanos(self.hold_nanos.load(Relaxed)),
        }
    }

    /// A key as spans and events show it: itself, or (redacted) the
    /// template it was rendered from, which holds no argument's value.
    pub(crate) fn shown<'a>(&self, key: &'a str, template: &'static str) -> &'a str {
        match (self.redact, template) {
            (false, _) => key,
            (true, "") => REDACTED,
            (true, template) => template,
        }
    }

    /// An error as events show it: a key it names is left out when keys
    /// are redacted (the call's span shows what it may of the key).
    pub(crate) fn error<'a>(&self, error: &'a crate::Error) -> ShownError<'a> {
        ShownError {
            error,
            redact: self.redact,
        }
    }

    /// The span of one call: `debounce`, at the `Debouncer`'s level, with
    /// the fn's name, the key, and the outcome once known.
    pub(crate) fn span(&self, site: &Site, key: &str) -> Span {
        // One atomic load when no subscriber wants it (tracing's `log`
        // compatibility would otherwise record its fields all the same).
        if tracing::level_filters::LevelFilter::current() < self.level {
            return Span::none();
        }
        let (function, template) = (site.function, site.template);
        macro_rules! span {
            ($level:expr) => {
                tracing::span!(
                    target: "redis_debounce",
                    $level,
                    "debounce",
                    function,
                    key = self.shown(key, template),
                    outcome = tracing::field::Empty,
                )
            };
        }
        match self.level {
            Level::ERROR => span!(Level::ERROR),
            Level::WARN => span!(Level::WARN),
            Level::INFO => span!(Level::INFO),
            Level::DEBUG => span!(Level::DEBUG),
            Level::TRACE => span!(Level::TRACE),
        }
    }

    /// A call's outcome: counted, recorded on its span, and (`metrics`)
    /// timed from `started`.
    pub(crate) fn decided(&self, span: &Span, site: &Site, outcome: Outcome, started: Started) {
        self.calls[outcome as usize].fetch_add(1, Relaxed);
        if outcome == Outcome::Acquired {
            self.held.fetch_add(1, Relaxed);
        }
        if !span.is_disabled() {
            span.record("outcome", outcome.as_str());
        }
        #[cfg(feature = "metrics")]
        {
            let handles = site.handles();
            handles.calls[outcome as usize].increment(1);
            handles.acquire[outcome as usize].record(started.0.elapsed().as_secs_f64());
            if outcome == Outcome::Acquired {
                handles.held.increment(1.0);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (site, started);
    }

    /// A lock given up after `held` (its release handed over).
    pub(crate) fn released(&self, site: &Site, held: Duration) {
        self.held.fetch_sub(1, Relaxed);
        self.hold_nanos.fetch_add(nanos(held), Relaxed);
        #[cfg(feature = "metrics")]
        {
            let handles = site.handles();
            handles.held.decrement(1.0);
            handles.hold.record(held.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = site;
    }

    /// A lease lost while held.
    pub(crate) fn lost(&self, site: &Site) {
        self.lost.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        site.handles().lost.increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = site;
    }

    /// A release that could not be made.
    pub(crate) fn release_failed(&self) {
        self.release_failures.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!(names::RELEASE_FAILURES).increment(1);
    }

    /// A caller waiting for a key, until the returned value drops.
    pub(crate) fn waiting<'a>(&'a self, site: &'a Site) -> Waiting<'a> {
        self.waiting.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        site.handles().waiting.increment(1.0);
        Waiting {
            observer: self,
            site,
        }
    }
}

/// When a call started: read only for the `metrics` feature's acquire
/// histogram (a clock read costs as much as an in-memory acquire's map
/// lookup).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] std::time::Instant);

impl Started {
    pub(crate) fn now() -> Self {
        Started(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }
}

/// One caller counted as waiting while it lives (a cancelled wait is
/// uncounted too).
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    observer: &'a Observer,
    site: &'a Site,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.observer.waiting.fetch_sub(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.site.handles().waiting.decrement(1.0);
        #[cfg(not(feature = "metrics"))]
        let _ = self.site;
    }
}

/// Runs `f` in `span`, or as it is when the span is disabled (its events,
/// which may be enabled on their own, are then emitted outside it).
pub(crate) fn within<T>(span: &Span, f: impl FnOnce() -> T) -> T {
    if span.is_disabled() {
        f()
    } else {
        span.in_scope(f)
    }
}

/// An error in an event: see [`Observer::error`].
#[derive(Debug)]
pub(crate) struct ShownError<'a> {
    error: &'a crate::Error,
    redact: bool,
}

impl std::fmt::Display for ShownError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error {
            crate::Error::WrongType { .. } if self.redact => {
                f.write_str("the lock's Redis key holds a value of another type, not a lock")
            }
            crate::Error::NoQuorum {
                nodes,
                answered,
                needed,
                source,
            } if self.redact => write!(
                f,
                "{answered} of {nodes} Redlock nodes answered, {needed} needed: {}",
                ShownError {
                    error: source,
                    redact: true
                }
            ),
            error => error.fmt(f),
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Names, units and help texts, for exporters that show them.
#[cfg(feature = "metrics")]
fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(
        names::CALLS,
        "Debounced calls, by fn and outcome (acquired, busy, cooling_down, replayed, unavailable, ran_unlocked)."
    );
    metrics::describe_histogram!(
        names::ACQUIRE_SECONDS,
        Unit::Seconds,
        "Time from a call's start to its outcome (waiting included), by fn and outcome."
    );
    metrics::describe_histogram!(
        names::HOLD_SECONDS,
        Unit::Seconds,
        "Time a lock was held, from its acquire to its release, by fn."
    );
    metrics::describe_gauge!(
        names::WAITING,
        "Callers waiting for a held key now (`wait`), by fn."
    );
    metrics::describe_gauge!(names::HELD, "Locks held now by this process, by fn.");
    metrics::describe_counter!(
        names::LOST_LEASES,
        "Leases lost while their body ran (renewal found the lock gone, or the body outran its lease), by fn."
    );
    metrics::describe_counter!(
        names::RELEASE_FAILURES,
        "Releases that could not be made; the lease then expires by itself (per node on Redlock)."
    );
}

#[cfg(test)]
mod tests {
    use super::{Observer, Outcome};
    use tracing::Level;

    /// The outcome table indexes the counters: each outcome its own slot.
    #[test]
    fn every_outcome_counts_in_its_own_slot() {
        let observer = Observer::new(false, Level::DEBUG);
        for (n, outcome) in Outcome::ALL.into_iter().enumerate() {
            for _ in 0..=n {
                observer.decided(
                    &tracing::Span::none(),
                    &super::PROGRAMMATIC,
                    outcome,
                    super::Started::now(),
                );
            }
        }
        let stats = observer.stats();
        for (n, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(stats.calls(outcome), n as u64 + 1, "{outcome}");
        }
        assert_eq!(stats.held, 1);
    }

    /// Redacted, an error names no key; else it is shown as it is.
    #[test]
    fn redacted_errors_name_no_key() {
        let wrong = crate::Error::WrongType {
            key: "debounce:{cart:42}".into(),
        };
        let quorum = crate::Error::NoQuorum {
            nodes: 3,
            answered: 1,
            needed: 2,
            source: Box::new(wrong.clone()),
        };
        let redacted = Observer::new(true, Level::DEBUG);
        for error in [&wrong, &quorum] {
            let shown = redacted.error(error).to_string();
            assert!(
                !shown.contains("cart:42") && shown.contains("another type"),
                "{shown}"
            );
        }
        let open = Observer::new(false, Level::DEBUG);
        assert_eq!(open.error(&quorum).to_string(), quorum.to_string());
        assert!(open.error(&wrong).to_string().contains("cart:42"));
    }

    /// Redacted, a key shows its template, or nothing of it.
    #[test]
    fn redacted_keys_show_their_template_only() {
        let open = Observer::new(false, Level::DEBUG);
        assert_eq!(open.shown("cart:42", "cart:{id}"), "cart:42");
        let redacted = Observer::new(true, Level::DEBUG);
        assert_eq!(redacted.shown("cart:42", "cart:{id}"), "cart:{id}");
        assert_eq!(redacted.shown("cart:42", ""), "<redacted>");
    }
}
