//! Collectors: one per NetBackup source, behind one small trait; each fetches into its own state and renders samples.
//!
//! Adding a source: a file here implementing [`Collector`], one line in [`enabled`], its key in the config's
//! collector list, and its families in `exposition`.

pub mod disk_pools;
pub mod jobs;
pub mod media_servers;
pub mod services;
pub mod slps;
pub mod storage;
pub mod storage_servers;
pub mod tape;

use crate::config::{ApiVersion, Config, COLLECTORS};
use crate::exposition::{Fam, Samples};
use crate::netbackup::time::EpochMs;
use crate::netbackup::{ApiError, Client, List, Paging, Walk};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
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

/// The timings collectors follow; a reload may change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub collection_interval: Duration,
    pub job_window: Duration,
    pub cache_ttl: Duration,
    /// `catchUpHorizon`: how far back jobs missed during an outage are still counted.
    pub catch_up_horizon: Duration,
    /// `collectors.<name>.cacheTTL`, by position in [`COLLECTORS`].
    ttls: [Option<Duration>; COLLECTORS.len()],
}

impl Timings {
    pub fn of(c: &Config) -> Self {
        let s = &c.server;
        Timings {
            collection_interval: s.collection_interval,
            job_window: s.job_window(),
            cache_ttl: s.cache_ttl,
            catch_up_horizon: s.catch_up_horizon,
            ttls: std::array::from_fn(|i| c.collector_ttls.iter().find(|(n, _)| *n == COLLECTORS[i]).map(|(_, t)| *t)),
        }
    }

    /// How often the collector with config key `source` polls: its own `cacheTTL`, else `server.cacheTTL`.
    pub fn ttl(&self, source: &str) -> Duration {
        COLLECTORS.iter().position(|c| *c == source).and_then(|i| self.ttls[i]).unwrap_or(self.cache_ttl)
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
    let t = Timings::of(config);
    let make = |name: &str| -> Option<Box<dyn Collector>> {
        Some(match name {
            "jobs" => Box::new(jobs::JobsCollector::new(&t, since)),
            "storage" => Box::new(storage::StorageCollector::new(t.ttl(name))),
            "disk_pools" => Box::new(disk_pools::DiskPoolsCollector::new(t.ttl(name))),
            "storage_servers" => Box::new(storage_servers::StorageServersCollector::new(t.ttl(name))),
            "media_servers" => Box::new(media_servers::MediaServersCollector::new(t.ttl(name))),
            "slps" => Box::new(slps::SlpsCollector::new(t.ttl(name))),
            "services" => Box::new(services::ServicesCollector::new(t.ttl(name))),
            "tape" => Box::new(tape::TapeCollector::new(t.ttl(name))),
            _ => return None,
        })
    };
    config.collectors.iter().filter_map(|name| make(name)).collect()
}

/// Every item of an offset-paged list at `path` (all pages, `limit` per page), each passed with its JSON:API `id`
/// to `keep`, which returns what to store (or `None` to skip it). The caller then calls [`committed`].
pub fn offset_items<A: DeserializeOwned + Send + 'static, T>(
    ctx: &Ctx,
    path: &'static str,
    limit: u32,
    mut keep: impl FnMut(Option<String>, A) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    let list = List { path, version: ctx.version, paging: Paging::Offset, limit };
    ctx.client.walk_parallel::<A>(list, &[vec![]], ctx.walk(), &mut |items| {
        out.extend(items.into_iter().filter_map(|it| keep(it.id, it.attributes?)))
    })?;
    Ok(out)
}

/// [`Ctx::commit`] as a result: an abandoned collection is an error (for `path`), so the caller's state stays as
/// it was.
pub fn committed(ctx: &Ctx, path: &str) -> Result<(), ApiError> {
    if ctx.commit() {
        Ok(())
    } else {
        Err(ApiError::Timeout { path: path.into(), detail: "collection abandoned".into() })
    }
}

/// A state set: `labels` plus `key` = each of `states` at 0, the `current` one (upper-cased) at 1; a current state
/// NetBackup reports beyond the documented ones gets its own series at 1.
pub fn state_set(
    out: &mut Samples,
    fam: Fam,
    labels: &[(&str, &str)],
    (key, states): (&str, &[&str]),
    current: Option<&str>,
) {
    let current = current.map(str::to_ascii_uppercase);
    let mut with = labels.to_vec();
    with.push((key, ""));
    let last = with.len() - 1;
    for state in states {
        with[last].1 = state;
        out.sample(fam, &with, f64::from(current.as_deref() == Some(*state)));
    }
    if let Some(other) = current.as_deref().filter(|s| !states.contains(s)) {
        with[last].1 = other;
        out.sample(fam, &with, 1.0);
    }
}

/// `items` sorted by `key`, the first of each key kept: the collectors' inventories in a stable order without
/// duplicates. One sort of `(key, index)` serves every item type (a sort per type costs binary size).
pub fn sorted_unique<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut order: Vec<(String, usize)> = items.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    order.sort_unstable();
    order.dedup_by(|a, b| a.0 == b.0);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|(_, i)| slots.get_mut(i).and_then(Option::take)).collect()
}
