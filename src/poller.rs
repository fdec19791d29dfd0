//! One background poller thread per NetBackup site: negotiates the API version, runs each collector when due,
//! and publishes the site's rendered samples. A slow or dead site only ever delays itself. A reload hands a
//! running poller new settings through its [`Control`]; it applies them between collections.

use crate::collector::jobs::JobsCollector;
use crate::collector::storage::StorageCollector;
use crate::collector::{Collector, Ctx, Timings};
use crate::config::{ApiVersion, Config, SiteConfig};
use crate::exposition::{Fam, Histogram, Samples};
use crate::netbackup::client::ApiStats;
use crate::netbackup::{ApiError, Client};
use crate::snapshot::{SiteState, Store};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Retry delay after a failed collection, capped so a recovered site is noticed quickly.
const RETRY_CAP: Duration = Duration::from_secs(30);

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct ControlState {
    stopped: bool,
    update: Option<Box<(SiteConfig, Timings)>>,
}

/// How the rest of the exporter talks to a running poller: stop it, or hand it new settings.
#[derive(Default)]
pub struct Control {
    state: Mutex<ControlState>,
    cv: Condvar,
}

enum Wake {
    Stopped,
    Update(Box<(SiteConfig, Timings)>),
    Due,
}

impl Control {
    pub fn stop(&self) {
        self.state.lock().stopped = true;
        self.cv.notify_all();
    }
    pub fn is_stopped(&self) -> bool {
        self.state.lock().stopped
    }
    pub fn update(&self, site: SiteConfig, timings: Timings) {
        self.state.lock().update = Some(Box::new((site, timings)));
        self.cv.notify_all();
    }
    fn wait_until(&self, deadline: Instant) -> Wake {
        let mut g = self.state.lock();
        loop {
            if g.stopped {
                return Wake::Stopped;
            }
            if let Some(u) = g.update.take() {
                return Wake::Update(u);
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return if g.stopped { Wake::Stopped } else { Wake::Due };
            }
        }
    }
}

/// Collection duration buckets in seconds.
const COLLECTION_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

struct Source {
    collector: Box<dyn Collector>,
    duration: Histogram,
    /// kind → failed collections.
    errors: BTreeMap<&'static str, u64>,
    due: Instant,
    last_success: Option<f64>,
    last_ok: Option<bool>,
    last_error: Option<String>,
}

/// A running poller as the reload logic sees it.
pub struct PollerHandle {
    pub site: SiteConfig,
    pub control: Arc<Control>,
    pub thread: JoinHandle<()>,
    pub collectors: (bool, bool),
}

pub struct SitePoller {
    owner: u64,
    /// Request counters of this site, kept across the clients a reload replaces.
    api_stats: Arc<Mutex<ApiStats>>,
    site: SiteConfig,
    client: Client,
    version: Option<ApiVersion>,
    sources: Vec<Source>,
    store: Arc<Store>,
    first_cycle_done: bool,
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn collectors_for(config: &Config) -> Vec<Box<dyn Collector>> {
    let t = Timings::of(&config.server);
    let mut v: Vec<Box<dyn Collector>> = Vec::new();
    if config.jobs_enabled {
        v.push(Box::new(JobsCollector::new(t.collection_interval, t.job_window)));
    }
    if config.storage_enabled {
        v.push(Box::new(StorageCollector::new(t.cache_ttl)));
    }
    v
}

/// Registers `site` in the store (dropping any data it had) and starts its poller thread.
pub fn start(site: &SiteConfig, config: &Config, store: &Arc<Store>) -> Result<PollerHandle, String> {
    let owner = NEXT_OWNER.fetch_add(1, Ordering::SeqCst);
    let api_stats = Arc::new(Mutex::new(ApiStats::default()));
    let client = Client::new(site, api_stats.clone())?;
    log::info!(
        "site {}: polling {} (proxy: {}, API version: {})",
        site.site,
        site.base_url(),
        client.proxy_description(),
        site.api_version.map_or_else(|| "auto-detect".to_string(), |v| v.to_string())
    );
    if site.insecure_skip_verify {
        log::warn!(
            "site {}: insecureSkipVerify is true; the NetBackup server's TLS certificate is NOT verified",
            site.site
        );
    }
    store.add_site(owner, &site.site, &site.base_url());
    let now = Instant::now();
    let sources = collectors_for(config)
        .into_iter()
        .map(|collector| Source {
            collector,
            duration: Histogram::new(COLLECTION_BUCKETS),
            errors: BTreeMap::new(),
            due: now,
            last_success: None,
            last_ok: None,
            last_error: None,
        })
        .collect();
    let poller = SitePoller {
        owner,
        api_stats,
        version: site.api_version,
        site: site.clone(),
        client,
        sources,
        store: store.clone(),
        first_cycle_done: false,
    };
    let control = Arc::new(Control::default());
    let c2 = control.clone();
    let thread = std::thread::Builder::new()
        .name(format!("poll-{}", site.site))
        .spawn(move || poller.run(&c2))
        .map_err(|e| format!("cannot start poller thread for site {}: {e}", site.site))?;
    Ok(PollerHandle { site: site.clone(), control, thread, collectors: (config.jobs_enabled, config.storage_enabled) })
}

impl SitePoller {
    fn run(mut self, control: &Control) {
        loop {
            self.cycle(control);
            let next = self.sources.iter().map(|s| s.due).min().unwrap_or_else(|| Instant::now() + RETRY_CAP);
            match control.wait_until(next) {
                Wake::Stopped => break,
                Wake::Update(u) => self.apply(u.0, u.1),
                Wake::Due => {}
            }
        }
        log::debug!("site {}: poller stopped", self.site.site);
    }

    /// Adopts reloaded settings: a new client (key, TLS, proxy, timeouts), timings, and an immediate collection.
    fn apply(&mut self, site: SiteConfig, timings: Timings) {
        if site != self.site {
            match Client::new(&site, self.api_stats.clone()) {
                Ok(c) => {
                    self.client = c;
                    if site.api_version != self.site.api_version
                        || site.api_key != self.site.api_key
                        || site.login != self.site.login
                    {
                        self.version = site.api_version;
                    }
                    self.site = site;
                }
                Err(e) => log::error!("site {}: new settings not applied: {e}", self.site.site),
            }
        }
        let now = Instant::now();
        for s in &mut self.sources {
            s.collector.reconfigure(&timings);
            s.due = now;
        }
        log::info!("site {}: settings reloaded", self.site.site);
    }

    fn fail(&self, src: &mut Source, err: &ApiError) {
        let msg = err.to_string();
        if src.last_error.as_deref() != Some(msg.as_str()) {
            log::warn!("site {}: {} collection failed: {msg}", self.site.site, src.collector.source());
        } else {
            log::debug!("site {}: {} collection failed again: {msg}", self.site.site, src.collector.source());
        }
        src.last_ok = Some(false);
        src.last_error = Some(msg);
        *src.errors.entry(err.kind()).or_default() += 1;
        src.due = Instant::now() + src.collector.interval().min(RETRY_CAP);
    }

    /// Runs every due collector once, then publishes.
    fn cycle(&mut self, control: &Control) {
        let now = Instant::now();
        let due: Vec<usize> = (0..self.sources.len()).filter(|&i| self.sources[i].due <= now).collect();
        if due.is_empty() {
            return;
        }
        if self.version.is_none() {
            match self.client.detect_version() {
                Ok(v) => {
                    log::info!("site {}: using NetBackup API version {v}", self.site.site);
                    self.version = Some(v);
                }
                Err(e) => {
                    let mut sources = std::mem::take(&mut self.sources);
                    for &i in &due {
                        self.fail(&mut sources[i], &e);
                    }
                    self.sources = sources;
                }
            }
        }
        if let Some(version) = self.version {
            let mut sources = std::mem::take(&mut self.sources);
            for &i in &due {
                if control.is_stopped() {
                    break;
                }
                let src = &mut sources[i];
                let ctx =
                    Ctx { client: &self.client, version, site: &self.site.site, concurrency: self.site.concurrency };
                let started = Instant::now();
                let result = src.collector.collect(&ctx);
                src.duration.observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(()) => {
                        if src.last_ok == Some(false) {
                            log::info!("site {}: {} collection recovered", self.site.site, src.collector.source());
                        }
                        log::debug!(
                            "site {}: {} collected in {:.3}s",
                            self.site.site,
                            src.collector.source(),
                            started.elapsed().as_secs_f64()
                        );
                        src.last_ok = Some(true);
                        src.last_error = None;
                        src.last_success = Some(unix_now());
                        src.due = Instant::now() + src.collector.interval();
                    }
                    Err(e) => {
                        if matches!(e, ApiError::NotAcceptable { .. }) && self.site.api_version.is_none() {
                            self.version = None; // the server was downgraded: negotiate again next time
                        }
                        self.fail(src, &e);
                    }
                }
            }
            self.sources = sources;
        }
        self.first_cycle_done = true;
        self.publish();
    }

    fn publish(&self) {
        let site = self.site.site.as_str();
        let mut out = Samples::default();
        let up = self.sources.iter().any(|s| s.last_ok == Some(true));
        out.sample(Fam::Up, &[("site", site)], if up { 1.0 } else { 0.0 });
        for s in &self.sources {
            if let Some(t) = s.last_success {
                out.sample(Fam::LastScrape, &[("site", site), ("source", s.collector.source())], t.floor());
            }
        }
        if let Some(v) = self.version {
            out.sample(Fam::ApiVersion, &[("site", site), ("version", &v.to_string())], 1.0);
        }
        for s in &self.sources {
            s.collector.render(site, &mut out);
        }
        for s in &self.sources {
            let src = s.collector.source();
            out.histogram(Fam::CollectionDuration, &[("site", site), ("source", src)], &s.duration);
            for (kind, n) in &s.errors {
                out.sample(Fam::CollectionErrors, &[("site", site), ("source", src), ("kind", kind)], *n as f64);
            }
        }
        let api = self.api_stats.lock();
        for ((endpoint, code), n) in &api.requests {
            out.sample(Fam::ApiRequests, &[("site", site), ("endpoint", endpoint), ("code", code)], *n as f64);
        }
        for (endpoint, h) in &api.durations {
            out.histogram(Fam::ApiRequestDuration, &[("site", site), ("endpoint", endpoint)], h);
        }
        drop(api);
        let state = SiteState {
            name: site.to_string(),
            url: self.site.base_url(),
            up,
            api_version: self.version,
            first_cycle_done: self.first_cycle_done,
            last_error: self.sources.iter().find_map(|s| s.last_error.clone()),
        };
        self.store.publish(self.owner, out, state);
    }
}
