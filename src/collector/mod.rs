//! Collectors: one per NetBackup source, behind one small trait; each fetches into its own state and renders samples.
//!
//! Adding a source: a file here implementing [`Collector`], one line in [`enabled`], its key in the config's
//! collector list, and its families in `exposition`.

pub mod disk_pools;
pub mod jobs;
pub mod storage;
pub mod tape;

use crate::config::{ApiVersion, Config, ServerConfig};
use crate::exposition::Samples;
use crate::netbackup::time::EpochMs;
use crate::netbackup::{ApiError, Client, Walk};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One run of a collector, shared by the thread running it and the site's supervisor, which abandons it when it
/// overruns its deadline.
pub struct Attempt {
    pub started: Instant,
    pub deadline: Instant,
    /// The `collectionTimeout` the deadline came from.
    pub limit: Duration,
    cancel: AtomicBool,
    state: Mutex<AttemptState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptState {
    Running,
    Committed,
    Abandoned,
}

impl Attempt {
    pub fn new(limit: Duration) -> Self {
        let started = Instant::now();
        Attempt {
            started,
            deadline: started + limit,
            limit,
            cancel: AtomicBool::new(false),
            state: Mutex::new(AttemptState::Running),
        }
    }

    /// The collector is about to change its state: true if it may (the attempt was not abandoned); from then on
    /// the attempt can no longer be abandoned.
    pub fn commit(&self) -> bool {
        let mut s = self.state.lock();
        if *s == AttemptState::Running {
            *s = AttemptState::Committed;
        }
        *s == AttemptState::Committed
    }

    /// Gives the attempt up: true if it was still running uncommitted (its results will be dropped).
    pub fn abandon(&self) -> bool {
        let mut s = self.state.lock();
        if *s != AttemptState::Running {
            return false;
        }
        *s = AttemptState::Abandoned;
        self.cancel.store(true, Ordering::Relaxed);
        true
    }

    pub fn abandoned(&self) -> bool {
        *self.state.lock() == AttemptState::Abandoned
    }
}

/// What a collector needs for one collection.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub version: ApiVersion,
    pub site: &'a str,
    /// Requests allowed in flight at once (the site's `concurrency`).
    pub concurrency: usize,
    pub attempt: &'a Attempt,
}

impl Ctx<'_> {
    /// How list walks of this collection run: concurrency, deadline, and the abandon flag.
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            concurrency: self.concurrency,
            deadline: self.attempt.deadline,
            limit: self.attempt.limit,
            cancel: &self.attempt.cancel,
        }
    }

    /// See [`Attempt::commit`]: collectors call it once, after fetching and before changing their state.
    pub fn commit(&self) -> bool {
        self.attempt.commit()
    }

    /// The longest a collection of this site may run (`collectionTimeout`).
    pub fn collection_timeout(&self) -> Duration {
        self.attempt.limit
    }
}

/// The server-wide timings collectors follow; a reload may change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub collection_interval: Duration,
    pub job_window: Duration,
    pub cache_ttl: Duration,
    /// `catchUpHorizon`: how far back jobs missed during an outage are still counted.
    pub catch_up_horizon: Duration,
}

impl Timings {
    pub fn of(s: &ServerConfig) -> Self {
        Timings {
            collection_interval: s.collection_interval,
            job_window: s.job_window(),
            cache_ttl: s.cache_ttl,
            catch_up_horizon: s.catch_up_horizon,
        }
    }
}

/// One source of NetBackup data (`source` label of `nbu_last_scrape_timestamp_seconds`).
pub trait Collector: Send {
    /// The `source` label: the collector's key in the config's `collectors:` block.
    fn source(&self) -> &'static str;
    /// The endpoints this source requests: their request counters exist at 0 before the first request.
    fn endpoints(&self) -> &'static [&'static str];
    /// The RBAC permission the source needs (NetBackup's `|OBJECT|TYPE|` path), named when NetBackup refuses it.
    fn permission(&self) -> &'static str;
    /// How often this source is fetched.
    fn interval(&self) -> Duration;
    /// Adopts new timings (after a reload) without losing collected state.
    fn reconfigure(&mut self, t: &Timings);
    /// Fetches from NetBackup, then calls [`Ctx::commit`] and, if it allows, updates the collector's state. On
    /// error or abandonment the previous state is kept intact.
    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError>;
    /// Writes this source's series for `site`.
    fn render(&self, site: &str, out: &mut Samples);
}

/// The collectors `config` enables; `since` is the exporter's start (jobs that finished earlier are not counted).
pub fn enabled(config: &Config, since: EpochMs) -> Vec<Box<dyn Collector>> {
    let t = Timings::of(&config.server);
    let make = |name: &str| -> Option<Box<dyn Collector>> {
        Some(match name {
            "jobs" => Box::new(jobs::JobsCollector::new(&t, since)),
            "storage" => Box::new(storage::StorageCollector::new(t.cache_ttl)),
            "disk_pools" => Box::new(disk_pools::DiskPoolsCollector::new(t.cache_ttl)),
            "tape" => Box::new(tape::TapeCollector::new(t.cache_ttl)),
            _ => return None,
        })
    };
    config.collectors.iter().filter_map(|name| make(name)).collect()
}
