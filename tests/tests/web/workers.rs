//! actix-web with four workers (four runtimes, one thread each) sharing
//! one `Debouncer` on a real Redis: 1,000 requests on one key, one at a
//! time, each on a new HTTP connection so that actix hands them to its
//! workers in turn. A handler's release is confirmed before its response
//! leaves, so no request meets the lock of the one before, whichever
//! worker ran either; and the workers share the `Debouncer`'s connection,
//! so Redis sees one connection from the library, not one per worker.
//! Then the same with `confirm = false`: the response may leave before its
//! release, but the release goes out on the one connection before the next
//! request's acquire, whichever worker runs either, so no request meets
//! the lock of the one before either.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer};
use redis_debounce::{Debouncer, debounce};
use redis_debounce_tests::RedisServer;

const WORKERS: usize = 4;
const REQUESTS: usize = 1000;
/// The library's connections to Redis: the dispatcher's one, however many
/// workers use the `Debouncer` (nothing here breaks it, so there is no
/// reconnect; waiters' connections are for calls that wait, and these do
/// not).
const LIBRARY_CONNECTIONS: u64 = 1;

struct Counter {
    debouncer: Debouncer,
    runs: AtomicUsize,
    /// The threads the handler ran on: actix's workers.
    threads: Mutex<HashSet<std::thread::ThreadId>>,
}

#[debounce(key = "tick", ttl = 30, using = counter.debouncer)]
async fn tick(counter: Data<Counter>) -> HttpResponse {
    tick_body(&counter)
}

/// The same, without confirmation: the fast path, ordered by the one
/// connection alone.
#[debounce(key = "tick", ttl = 30, using = counter.debouncer, confirm = false)]
async fn tick_unconfirmed(counter: Data<Counter>) -> HttpResponse {
    tick_body(&counter)
}

fn tick_body(counter: &Counter) -> HttpResponse {
    counter.runs.fetch_add(1, Ordering::SeqCst);
    counter
        .threads
        .lock()
        .unwrap()
        .insert(std::thread::current().id());
    HttpResponse::Ok().finish()
}

/// A field of an `INFO` section, as a number.
fn info(connection: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(connection).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{info}"))
}

#[test]
fn sequential_requests_on_four_workers_meet_no_lock() {
    actix_web::rt::System::new().block_on(async {
        let server = RedisServer::start();
        let counter = Data::new(Counter {
            // Patient: the point is one shared connection, and a stall of
            // a loaded machine past a 1 s timeout would reconnect.
            debouncer: server.patient(),
            runs: AtomicUsize::new(0),
            threads: Mutex::new(HashSet::new()),
        });
        let data = counter.clone();
        let http = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/tick", web::post().to(tick))
                .route("/fast", web::post().to(tick_unconfirmed))
        })
        .workers(WORKERS)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let base = format!("http://{}", http.addrs()[0]);
        let running = http.run();
        let handle = running.handle();
        actix_web::rt::spawn(running);
        // A new connection per request: actix deals connections out to
        // its workers in turn.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();

        // The test's own connection, open before the counts start.
        let mut redis = server.connection();
        let connections_before = info(&mut redis, "stats", "total_connections_received");
        let mut most_clients = 0;
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        // Responses that left while their lock was still in Redis, as another
        // instance (this connection) sees it: one connection's order alone
        // would hide that from the next request through the same Debouncer.
        let mut early = 0;
        // The unconfirmed path's statuses, apart.
        let mut fast = std::collections::BTreeMap::<u16, usize>::new();
        for request in 0..2 * REQUESTS {
            let confirmed = request < REQUESTS;
            let path = if confirmed { "/tick" } else { "/fast" };
            let response = client.post(format!("{base}{path}")).send().await.unwrap();
            let status = response.status().as_u16();
            if confirmed {
                let held: bool = redis::cmd("EXISTS")
                    .arg("debounce:{tick}")
                    .query(&mut redis)
                    .unwrap();
                early += usize::from(held);
                *statuses.entry(status).or_default() += 1;
            } else {
                *fast.entry(status).or_default() += 1;
            }
            // Every tenth: how many clients Redis has now, besides this one.
            if request % 10 == 0 {
                most_clients =
                    most_clients.max(info(&mut redis, "clients", "connected_clients") - 1);
            }
        }
        // (Before `keys()`, which opens a connection of its own.)
        let made = info(&mut redis, "stats", "total_connections_received") - connections_before;
        let left: Vec<String> = server
            .keys()
            .into_iter()
            .filter(|key| key.ends_with('}'))
            .collect();
        let threads = counter.threads.lock().unwrap().len();
        handle.stop(true).await;

        eprintln!(
            "{REQUESTS} requests on {threads} workers: {statuses:?} confirmed, {fast:?} not; the \
             library had at most {most_clients} connections open and made {made}"
        );
        assert_eq!(
            statuses.get(&409),
            None,
            "a request met a lock: {statuses:?}"
        );
        assert_eq!(early, 0, "responses that left before their release");
        assert_eq!(statuses.get(&200), Some(&REQUESTS), "{statuses:?}");
        assert_eq!(
            fast.get(&409),
            None,
            "an unconfirmed request met the lock of the one before: {fast:?}"
        );
        assert_eq!(fast.get(&200), Some(&REQUESTS), "{fast:?}");
        assert_eq!(counter.runs.load(Ordering::SeqCst), 2 * REQUESTS);
        assert!(left.is_empty(), "left {left:?}");
        assert!(
            threads >= 2,
            "the requests ran on {threads} worker(s) only: the test proves nothing across workers"
        );
        assert!(
            most_clients <= LIBRARY_CONNECTIONS && made <= LIBRARY_CONNECTIONS,
            "with {WORKERS} workers the library had {most_clients} connections open at once and \
             made {made} in all"
        );
    });
}
