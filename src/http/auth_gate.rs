//! Keeps bcrypt off the request workers: a small pool with a bounded queue, and per-client-IP failure throttling.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Credential checks waiting for a bcrypt thread; one more gets 429.
pub const BCRYPT_QUEUE: usize = 8;
/// Failed logins one client IP may have per [`FAILURE_WINDOW`]; beyond, it gets 429 without bcrypt.
pub const FAILURES_PER_IP: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Client IPs tracked at once; beyond, windows that ended are dropped, then all (the queue bound still holds).
const MAX_TRACKED_IPS: usize = 4096;

/// bcrypt threads: one per two CPUs, at most 2, so a flood of wrong passwords leaves CPU for scrapes.
pub fn bcrypt_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get() / 2).clamp(1, 2)
}

/// Runs `handler` on each submitted item, on `threads` threads, with at most [`BCRYPT_QUEUE`] waiting.
pub struct Pool<T> {
    tx: SyncSender<T>,
}

impl<T: Send + 'static> Pool<T> {
    pub fn start(threads: usize, handler: impl Fn(T) + Send + Sync + 'static) -> io::Result<Pool<T>> {
        let (tx, rx) = mpsc::sync_channel::<T>(BCRYPT_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let handler = Arc::new(handler);
        for i in 0..threads.max(1) {
            let (rx, handler) = (rx.clone(), handler.clone());
            std::thread::Builder::new().name(format!("bcrypt-{i}")).spawn(move || loop {
                let item = rx.lock().recv();
                match item {
                    Ok(item) => handler(item),
                    Err(_) => break, // the pool was dropped
                }
            })?;
        }
        Ok(Pool { tx })
    }

    /// Queues `item`, or gives it back when the queue is full.
    pub fn submit(&self, item: T) -> Result<(), T> {
        self.tx.try_send(item).map_err(|e| match e {
            TrySendError::Full(item) | TrySendError::Disconnected(item) => item,
        })
    }
}

/// Failed logins per client IP, in fixed windows starting at the first failure.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// Seconds until `ip` may try again, when it used up its failures.
    pub fn retry_after(&self, ip: IpAddr) -> Option<u64> {
        let map = self.failures.lock();
        let (count, since) = map.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= FAILURES_PER_IP).then(|| left.as_secs().max(1))
    }

    pub fn failed(&self, ip: IpAddr) {
        let mut map = self.failures.lock();
        if map.len() >= MAX_TRACKED_IPS && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED_IPS {
                map.clear();
            }
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_failures_per_ip() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FAILURES_PER_IP - 1 {
            t.failed(a);
        }
        assert_eq!(t.retry_after(a), None);
        t.failed(a);
        let secs = t.retry_after(a).unwrap();
        assert!((1..=FAILURE_WINDOW.as_secs()).contains(&secs));
        assert_eq!(t.retry_after(b), None);
    }

    #[test]
    fn a_full_queue_gives_the_item_back() {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::start(1, move |_: u32| {
            let _ = started_tx.send(());
            let _ = release_rx.lock().recv();
        })
        .unwrap();
        pool.submit(0).ok().unwrap();
        started_rx.recv().unwrap(); // the thread holds item 0
        for i in 1..=BCRYPT_QUEUE as u32 {
            assert!(pool.submit(i).is_ok());
        }
        assert_eq!(pool.submit(99), Err(99));
        drop(release_tx);
    }
}
