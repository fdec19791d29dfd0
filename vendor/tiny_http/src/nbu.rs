//! nbu_exporter patch (PATCHES.md): connection registry, cap with eviction, head-deadline reaper, accept back-off.

use crate::connection::Connection;
use std::collections::BTreeMap;
use std::net::Shutdown;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

static MAX_CONNECTIONS: AtomicUsize = AtomicUsize::new(usize::MAX);
static IO_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);
static HEAD_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);
static MAX_HEADER_BYTES: AtomicUsize = AtomicUsize::new(16 * 1024);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static EVICTED: AtomicU64 = AtomicU64::new(0);
static REAPED: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static REAPER: Once = Once::new();

/// How often the reaper looks for connections past their head deadline.
const REAP_EVERY: Duration = Duration::from_millis(100);

struct Entry {
    conn: Connection,
    /// Waiting for the first byte of a request head since then (fresh or keep-alive): evictable.
    idle_since: Option<Instant>,
    /// The request head must be complete by then, or the reaper closes the connection.
    head_deadline: Option<Instant>,
}

static CONNS: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());

fn conns() -> MutexGuard<'static, BTreeMap<u64, Entry>> {
    CONNS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ms(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| (d.as_millis().max(1)).min(u64::MAX as u128) as u64)
}

fn duration(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// For connections accepted from now on: at most `max_connections` open (a new one beyond it evicts the oldest
/// idle connection, or is closed when none is idle), and read and write timeouts of `io_timeout` on every socket.
pub fn set_connection_limits(max_connections: usize, io_timeout: Option<Duration>) {
    MAX_CONNECTIONS.store(max_connections.max(1), Relaxed);
    IO_TIMEOUT_MS.store(ms(io_timeout), Relaxed);
}

/// A new connection must deliver its first complete request head within `timeout` of being accepted, and a
/// keep-alive connection each later head within `timeout` of its first byte; otherwise it is closed. The I/O
/// timeout caps it when shorter.
pub fn set_read_header_timeout(timeout: Option<Duration>) {
    HEAD_TIMEOUT_MS.store(ms(timeout), Relaxed);
}

/// The largest request head (request line and headers) accepted; larger gets 431.
pub fn set_max_header_bytes(bytes: usize) {
    MAX_HEADER_BYTES.store(bytes.max(64), Relaxed);
}

/// Connections currently open (evicted or reaped ones no longer count).
pub fn active_connections() -> usize {
    conns().len()
}

/// Counters since start: (idle connections evicted for a new one, connections closed at the head deadline,
/// new connections closed because the cap was reached and none was idle).
pub fn connection_stats() -> (u64, u64, u64) {
    (EVICTED.load(Relaxed), REAPED.load(Relaxed), REFUSED.load(Relaxed))
}

pub(crate) fn max_header_bytes() -> usize {
    MAX_HEADER_BYTES.load(Relaxed)
}

pub(crate) fn io_timeout() -> Option<Duration> {
    duration(IO_TIMEOUT_MS.load(Relaxed))
}

/// The request-head deadline: the read-header timeout, but never longer than the I/O timeout (a head that
/// takes longer than `connectionTimeout` was cut off before this patch too).
pub(crate) fn head_timeout() -> Option<Duration> {
    match (duration(HEAD_TIMEOUT_MS.load(Relaxed)), io_timeout()) {
        (Some(h), Some(io)) => Some(h.min(io)),
        (h, io) => h.or(io),
    }
}

/// Room for one more connection: true when under the cap, or when the oldest idle connection was evicted for it.
pub(crate) fn admit() -> bool {
    let mut map = conns();
    if map.len() < MAX_CONNECTIONS.load(Relaxed) {
        return true;
    }
    let oldest = map.iter().filter_map(|(id, e)| e.idle_since.map(|t| (t, *id))).min().map(|(_, id)| id);
    match oldest.and_then(|id| map.remove(&id)) {
        Some(e) => {
            let _ = e.conn.shutdown(Shutdown::Both);
            EVICTED.fetch_add(1, Relaxed);
            true
        }
        None => {
            REFUSED.fetch_add(1, Relaxed);
            false
        }
    }
}

/// A registered connection; dropping it unregisters it.
pub(crate) struct Slot(u64);

/// Registers an accepted connection: idle, with the head deadline running from now.
pub(crate) fn register(conn: &Connection) -> Slot {
    start_reaper();
    let id = NEXT_ID.fetch_add(1, Relaxed);
    let now = Instant::now();
    let head_deadline = head_timeout().map(|t| now + t);
    conns().insert(id, Entry { conn: conn.clone(), idle_since: Some(now), head_deadline });
    Slot(id)
}

impl Slot {
    fn update(&self, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = conns().get_mut(&self.0) {
            f(e);
        }
    }

    /// Between requests: waiting for the next head (evictable; the socket's read timeout bounds the wait).
    pub(crate) fn waiting(&self) {
        self.update(|e| {
            e.idle_since = Some(Instant::now());
            e.head_deadline = None;
        });
    }

    /// The first byte of a later head arrived: no longer idle, and the rest must follow within the head timeout.
    pub(crate) fn head_started(&self) {
        self.update(|e| {
            e.idle_since = None;
            e.head_deadline = head_timeout().map(|t| Instant::now() + t);
        });
    }

    /// The head is complete: the request is being served.
    pub(crate) fn busy(&self) {
        self.update(|e| {
            e.idle_since = None;
            e.head_deadline = None;
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        conns().remove(&self.0);
    }
}

fn start_reaper() {
    REAPER.call_once(|| {
        let spawned = std::thread::Builder::new().name("http-reaper".into()).spawn(|| loop {
            std::thread::sleep(REAP_EVERY);
            let now = Instant::now();
            let mut map = conns();
            let late: Vec<u64> =
                map.iter().filter(|(_, e)| e.head_deadline.is_some_and(|d| d <= now)).map(|(id, _)| *id).collect();
            for id in late {
                if let Some(e) = map.remove(&id) {
                    let _ = e.conn.shutdown(Shutdown::Both);
                    REAPED.fetch_add(1, Relaxed);
                }
            }
        });
        if let Err(e) = spawned {
            // The in-thread head deadline (checked between bytes) and the socket timeouts still apply.
            log::error!("cannot start the request-head reaper thread: {}", e);
        }
    });
}

/// The accept loop's pause after a failed `accept()`: 10 ms doubling to 1 s, reset by a success. Errors are
/// logged at most every 10 s, with how many there were.
pub(crate) struct Backoff {
    delay: Duration,
    failures: u64,
    logged: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { delay: Duration::from_millis(10), failures: 0, logged: None }
    }

    pub(crate) fn success(&mut self) {
        self.delay = Duration::from_millis(10);
    }

    pub(crate) fn failed(&mut self, e: &std::io::Error) {
        self.failures += 1;
        if self.logged.map_or(true, |t| t.elapsed() >= Duration::from_secs(10)) {
            let hint = match e.raw_os_error() {
                Some(24) => " (the process's file-descriptor limit: raise LimitNOFILE= / ulimit -n or lower server.maxConnections)",
                Some(23) => " (the system-wide file limit, fs.file-max)",
                _ => "",
            };
            log::error!(
                "accepting a connection failed: {}{}; retrying ({} failure(s) so far)",
                e,
                hint,
                self.failures
            );
            self.logged = Some(Instant::now());
        }
        std::thread::sleep(self.delay);
        self.delay = (self.delay * 2).min(Duration::from_secs(1));
    }
}
