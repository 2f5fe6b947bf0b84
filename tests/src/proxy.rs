//! A proxy between the library and a `redis-server`, on a Unix socket or
//! on a loopback TCP port, that breaks the network on demand: it stalls
//! the connections open now (holds what their clients write), loses their
//! answers, cuts every connection at once, or black-holes every
//! connection (accepted, never forwarded nor answered).
//!
//! Each direction of a connection is pumped by a thread of its own, in
//! order: nothing is ever reordered, duplicated or lost in the middle of
//! a connection that still forwards (as with TCP); a connection that
//! breaks stops forwarding for good.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use crate::{TempDir, temp_dir, unix_url};

/// How long Redis may take to answer bytes let through late.
const ANSWERED_WITHIN: Duration = Duration::from_secs(20);

/// One side of a proxied connection.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(stream) => Stream::Unix(stream.try_clone()?),
            Stream::Tcp(stream) => Stream::Tcp(stream.try_clone()?),
        })
    }

    /// Closes `how` for every handle of the socket (a blocked read on
    /// another handle returns).
    fn shutdown(&self, how: Shutdown) {
        let _ = match self {
            Stream::Unix(stream) => stream.shutdown(how),
            Stream::Tcp(stream) => stream.shutdown(how),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.read(buf),
            Stream::Tcp(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.write(buf),
            Stream::Tcp(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(stream) => stream.flush(),
            Stream::Tcp(stream) => stream.flush(),
        }
    }
}

/// Where the proxy forwards to.
enum Upstream {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Upstream {
    fn connect(&self) -> io::Result<Stream> {
        match self {
            Upstream::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            Upstream::Tcp(addr) => {
                let stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(listener) => listener.accept().map(|(stream, _)| Stream::Unix(stream)),
            Listener::Tcp(listener) => {
                let (stream, _) = listener.accept()?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Shared {
    /// Connections accepted so far: the next one's id.
    accepted: AtomicUsize,
    /// Connections with a lower id have what their client writes held back.
    hold_below: AtomicUsize,
    /// Connections with a lower id have their answers thrown away.
    swallow_below: AtomicUsize,
    /// Per held connection: its upstream socket and the bytes held back.
    held: Mutex<HashMap<usize, (Stream, Vec<u8>)>>,
    /// Answers read on a connection after its held bytes were let through.
    released: Mutex<Option<(usize, mpsc::Sender<Vec<u8>>)>>,
    /// Connections not yet closed: the client's side, and the upstream
    /// side when there is one. New connections are registered under this
    /// lock, so none escapes a [`Proxy::cut`] or a [`Proxy::blackhole`].
    open: Mutex<HashMap<usize, (Stream, Option<Stream>)>>,
    /// New connections go into the black hole.
    blackholed: AtomicBool,
    /// Connections in the black hole: nothing more is forwarded either way,
    /// for good.
    dead: Mutex<HashSet<usize>>,
}

impl Shared {
    fn is_dead(&self, id: usize) -> bool {
        lock(&self.dead).contains(&id)
    }

    fn is_stalled(&self, id: usize) -> bool {
        id < self.hold_below.load(Ordering::SeqCst)
    }
}

/// A proxy in front of one `redis-server`; see the module docs. Its
/// connections are numbered from 0 in the order they are accepted.
pub struct Proxy {
    _dir: Option<TempDir>,
    url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.url)
            .field("accepted", &self.shared.accepted.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy on a Unix socket of its own in front of the server
    /// listening on the socket `upstream`.
    ///
    /// # Panics
    ///
    /// When the proxy's socket cannot be bound.
    #[must_use]
    pub fn start(upstream: &Path) -> Proxy {
        let dir = temp_dir("proxy");
        let path = dir.join("proxy.sock");
        let listener = UnixListener::bind(&path).expect("bind the proxy's socket");
        let url = unix_url(&path);
        Self::serve(
            Listener::Unix(listener),
            Upstream::Unix(upstream.to_owned()),
            url,
            Some(dir),
        )
    }

    /// A proxy in front of `server`: on a Unix socket of its own for a
    /// server on a Unix socket, on loopback TCP for one on TCP.
    ///
    /// # Panics
    ///
    /// When the proxy cannot listen.
    #[must_use]
    pub fn in_front_of(server: &crate::RedisServer) -> Proxy {
        let url = server.url();
        match url.strip_prefix("redis+unix://") {
            Some(socket) => Proxy::start(Path::new(socket)),
            None => Proxy::tcp(&url),
        }
    }

    /// A proxy on a free loopback TCP port in front of the server at
    /// `upstream_url` (`redis://127.0.0.1:<port>/`, as
    /// [`RedisServer::start_tcp`](crate::RedisServer::start_tcp) has it).
    ///
    /// # Panics
    ///
    /// When the URL is not of that form, or no port can be bound.
    #[must_use]
    pub fn tcp(upstream_url: &str) -> Proxy {
        let addr: SocketAddr = upstream_url
            .strip_prefix("redis://")
            .map(|rest| rest.trim_end_matches('/'))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not redis://<ip>:<port>/: {upstream_url}"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound port").port();
        Self::serve(
            Listener::Tcp(listener),
            Upstream::Tcp(addr),
            format!("redis://127.0.0.1:{port}/"),
            None,
        )
    }

    fn serve(listener: Listener, upstream: Upstream, url: String, dir: Option<TempDir>) -> Proxy {
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            loop {
                let Ok(client) = listener.accept() else {
                    return;
                };
                let Ok(registered) = client.try_clone() else {
                    continue;
                };
                // (No upstream connection for the black hole; checked
                // again below, where it counts.)
                let server = (!accept_shared.blackholed.load(Ordering::SeqCst))
                    .then(|| upstream.connect().ok())
                    .flatten();
                let mut open = lock(&accept_shared.open);
                if accept_shared.blackholed.load(Ordering::SeqCst) {
                    // Accepted, never forwarded nor answered.
                    let id = accept_shared.accepted.fetch_add(1, Ordering::SeqCst);
                    lock(&accept_shared.dead).insert(id);
                    open.insert(id, (registered, None));
                    drop(open);
                    drain(id, client, accept_shared.clone());
                    continue;
                }
                // Refused upstream: the client's connection closes, as if
                // refused.
                let Some(server) = server else { continue };
                let Ok(registered_server) = server.try_clone() else {
                    continue;
                };
                let id = accept_shared.accepted.fetch_add(1, Ordering::SeqCst);
                open.insert(id, (registered, Some(registered_server)));
                drop(open);
                pump(id, client, server, accept_shared.clone());
            }
        });
        Proxy {
            _dir: dir,
            url,
            shared,
        }
    }

    /// The URL to give the library: `redis+unix://...` or
    /// `redis://127.0.0.1:<port>/`.
    #[must_use]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every connection open now stalls: what its client writes from now
    /// on is held back (new connections pass). Returns how many
    /// connections were accepted so far (the ids below it stall).
    #[must_use]
    pub fn stall_open_connections(&self) -> usize {
        let open = self.shared.accepted.load(Ordering::SeqCst);
        self.shared.hold_below.store(open, Ordering::SeqCst);
        open
    }

    /// Every connection open now loses its answers from now on.
    pub fn swallow_answers_of_open_connections(&self) {
        let open = self.shared.accepted.load(Ordering::SeqCst);
        self.shared.swallow_below.store(open, Ordering::SeqCst);
    }

    /// The connections that hold bytes back, for
    /// [`let_through`](Self::let_through).
    #[must_use]
    pub fn held_connections(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = lock(&self.shared.held).keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Lets the held bytes of connection `id` through, late, and a `PING`
    /// of the proxy's own behind them; returns what Redis answered to them
    /// once the `PONG` is in (Redis runs one connection's commands in
    /// order: every held command has run).
    ///
    /// # Panics
    ///
    /// When that connection holds nothing back, or Redis does not answer.
    #[must_use]
    pub fn let_through(&self, id: usize) -> Vec<u8> {
        let (tx, rx) = mpsc::channel();
        *lock(&self.shared.released) = Some((id, tx));
        let (mut server, bytes) = lock(&self.shared.held)
            .remove(&id)
            .expect("bytes held on that connection");
        assert!(!bytes.is_empty());
        server.write_all(&bytes).expect("write the held bytes");
        server
            .write_all(b"*1\r\n$4\r\nPING\r\n")
            .expect("write a PING");
        let mut answers = Vec::new();
        while !answers.ends_with(b"+PONG\r\n") {
            let chunk = rx
                .recv_timeout(ANSWERED_WITHIN)
                .expect("Redis answered the late bytes");
            answers.extend_from_slice(&chunk);
        }
        answers.truncate(answers.len() - b"+PONG\r\n".len());
        answers
    }

    /// Closes every open connection at once, both directions and both
    /// sides, as a reset would: what was held back on them is lost. Returns
    /// how many were cut.
    #[must_use]
    pub fn cut(&self) -> usize {
        let open = std::mem::take(&mut *lock(&self.shared.open));
        for (client, server) in open.values() {
            client.shutdown(Shutdown::Both);
            if let Some(server) = server {
                server.shutdown(Shutdown::Both);
            }
        }
        lock(&self.shared.held).clear();
        open.len()
    }

    /// From now on nothing gets through: every connection open now stops
    /// forwarding either way for good (its bytes are dropped, it stays
    /// open), and new ones are accepted but never forwarded nor answered,
    /// until [`restore`](Self::restore).
    pub fn blackhole(&self) {
        let open = lock(&self.shared.open);
        self.shared.blackholed.store(true, Ordering::SeqCst);
        lock(&self.shared.dead).extend(open.keys().copied());
    }

    /// New connections pass again (those in the black hole stay there).
    pub fn restore(&self) {
        self.shared.blackholed.store(false, Ordering::SeqCst);
    }
}

/// Reads a black-holed client's bytes and drops them, until it goes.
fn drain(id: usize, mut client: Stream, shared: Arc<Shared>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(1..) = client.read(&mut buf) {}
        lock(&shared.open).remove(&id);
    });
}

fn pump(id: usize, mut client: Stream, mut server: Stream, shared: Arc<Shared>) {
    let (Ok(mut client_w), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = shared.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if up.is_dead(id) {
                continue;
            }
            if up.is_stalled(id) {
                let mut held = lock(&up.held);
                if let Some(entry) = held.get_mut(&id) {
                    entry.1.extend_from_slice(&buf[..n]);
                } else if let Ok(server) = server_w.try_clone() {
                    held.insert(id, (server, buf[..n].to_vec()));
                }
            } else if server_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // The client went: so does the upstream connection, unless it is
        // stalled (its end is held back too, and its bytes may yet be let
        // through).
        if !up.is_stalled(id) {
            server_w.shutdown(Shutdown::Write);
        }
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some((released, tx)) = &*lock(&shared.released)
                && *released == id
            {
                let _ = tx.send(buf[..n].to_vec());
            }
            if id < shared.swallow_below.load(Ordering::SeqCst) || shared.is_dead(id) {
                continue;
            }
            let _ = client_w.write_all(&buf[..n]);
        }
        // Redis closed it: the client sees it closed (not one in the black
        // hole, where nothing gets through).
        if !shared.is_dead(id) {
            client_w.shutdown(Shutdown::Both);
        }
        lock(&shared.open).remove(&id);
    });
}
