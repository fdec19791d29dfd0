//! Polling NetBackup: per site, a supervisor thread and one worker thread per source, each source on its own
//! schedule; the supervisor enforces deadlines, decides `nbu_up` and publishes the site's samples.
//!
//! # Threading model
//!
//! For every site there is one *supervisor* thread (`poll-<site>`) and one *worker* thread per enabled source
//! (`poll-<site>-<source>`, see [`source`]). They share the site's [`Runtime`] under one mutex and condition
//! variable; nobody holds the mutex while talking to NetBackup.
//!
//! * A worker waits until its source is due (its own interval: `collectionInterval` for jobs, `cacheTTL` for
//!   storage), runs one collection with its own [`Attempt`] (deadline: the site's `collectionTimeout`), renders
//!   the source's samples and hands the outcome to the runtime. A slow, hung or failing source only ever delays
//!   itself: other sources of the site and other sites have threads of their own.
//! * The supervisor wakes on every outcome and at least every [`TICK`]. It abandons an attempt that overran its
//!   deadline (counted as failed, kind `timeout`; the worker drops its results when its request finally ends),
//!   re-evaluates `nbu_up`, and publishes the site's samples (site-level series plus each source's last rendering)
//!   to the snapshot store whenever something changed.
//! * A reload hands new settings to [`PollerHandle::update`]: a new client and timings, and every source runs at
//!   once. Stopping sets a flag all threads see at their next wake-up; a thread blocked in a request ends with it.
//!
//! # `nbu_up`
//!
//! 1 while NetBackup answers: some request of the site was answered with a 2xx status within the *liveness
//! window* (the shortest source interval plus [`UP_GRACE`]), and the site's most recent collection outcome is not
//! a failure that says the server as a whole is unusable (refused, DNS, TLS, 401; see
//! [`ApiError::site_down`]). So a refused port or a revoked key turns it 0 at once, and a hang turns it 0 when the
//! window passes without an answer, without waiting for `requestTimeout`; one endpoint failing while others answer
//! shows in `nbu_scrape_collector_success` instead. It returns to 1 with the first successful collection.

mod source;

use crate::collector::{self, Attempt, Timings};
use crate::config::{ApiVersion, Config, SiteConfig};
use crate::exposition::{Fam, Histogram, Samples};
use crate::netbackup::client::{ApiStats, ERROR_KINDS};
use crate::netbackup::{ApiError, Client};
use crate::snapshot::{SiteState, Store};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the supervisor re-checks deadlines and liveness when nothing else wakes it.
pub const TICK: Duration = Duration::from_millis(250);
/// How long past its deadline an attempt may run before the supervisor abandons it: a walk that is still getting
/// pages stops at its own deadline check first and says how far it got.
const ABANDON_SLACK: Duration = Duration::from_secs(1);
/// How much longer than the shortest source interval the site may go without an answer before `nbu_up` is 0.
pub const UP_GRACE: Duration = Duration::from_secs(10);
/// Retry delay after a failed collection, capped so a recovered site is noticed quickly.
pub const RETRY_CAP: Duration = Duration::from_secs(30);
/// Collection duration buckets in seconds.
const COLLECTION_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// The liveness window of a site whose sources poll at `intervals`.
pub fn up_window(intervals: impl IntoIterator<Item = Duration>) -> Duration {
    intervals.into_iter().min().unwrap_or(RETRY_CAP) + UP_GRACE
}

/// The liveness window `config` gives its sites.
pub fn up_window_of(config: &Config) -> Duration {
    up_window(collector::enabled(config, 0).iter().map(|c| c.interval()))
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// What the site's threads know about one source.
struct SourceState {
    name: &'static str,
    /// The RBAC permission the source needs, named when NetBackup refuses it.
    permission: &'static str,
    /// The source's main endpoint, for messages.
    endpoint: &'static str,
    interval: Duration,
    /// The collection in progress, if any.
    running: Option<Arc<Attempt>>,
    /// The source's series as of its last successful collection.
    samples: Arc<Samples>,
    duration: Histogram,
    /// kind → failed collections (every kind present from the start).
    errors: BTreeMap<&'static str, u64>,
    /// Unix time of the last successful collection.
    last_success: Option<f64>,
    /// Outcome of the latest finished (or abandoned) collection, and when it came.
    outcome: Option<(Instant, bool)>,
    /// The latest failure says the whole server is unusable ([`ApiError::site_down`]).
    site_down: bool,
    last_error: Option<String>,
}

/// The state a site's threads share.
struct Runtime {
    stopped: bool,
    site: SiteConfig,
    client: Arc<Client>,
    version: Option<ApiVersion>,
    /// The last negotiation found no API version: when to ask again.
    no_version: Option<source::NoVersion>,
    /// Collections refused with 406 in a row at a negotiated version (a server that refuses the version its own
    /// `/ping` announces): from the second on, negotiation backs off as after a failed ladder.
    refused: u32,
    /// Bumped by every settings update: workers reconfigure and collect at once.
    generation: u64,
    timings: Timings,
    sources: Vec<SourceState>,
    /// Something changed that is not published yet.
    changed: bool,
}

struct Shared {
    owner: u64,
    name: String,
    store: Arc<Store>,
    /// Request counters of this site, kept across the clients a reload replaces.
    api: Arc<Mutex<ApiStats>>,
    state: Mutex<Runtime>,
    cv: Condvar,
    /// Held while one worker negotiates the API version, so the site's other workers use its answer instead of
    /// asking again.
    detect: Mutex<()>,
}

impl Shared {
    /// Records a failed (or abandoned) collection of source `i`.
    fn fail(&self, rt: &mut Runtime, i: usize, err: &ApiError) {
        let src = &mut rt.sources[i];
        let mut msg = err.to_string();
        match err.kind() {
            "forbidden" | "unauthorized" => {
                msg += &format!("; the {} collector needs the RBAC permission {}", src.name, src.permission)
            }
            "unsupported" => {
                msg += &format!(
                    "; this NetBackup release does not have the endpoint: the {} collector asks again every {}s \
                     (turn it off with collectors.{}: false)",
                    src.name,
                    src.interval.as_secs(),
                    src.name
                )
            }
            _ => {}
        }
        if src.last_error.as_deref() != Some(msg.as_str()) {
            log::warn!("site {}: {} collection failed: {msg}", self.name, src.name);
        } else {
            log::debug!("site {}: {} collection failed again: {msg}", self.name, src.name);
        }
        *src.errors.entry(err.kind()).or_default() += 1;
        src.outcome = Some((Instant::now(), false));
        src.site_down = err.site_down();
        src.last_error = Some(msg);
        rt.changed = true;
    }

    /// Records a successful collection of source `i` and its new samples.
    fn succeed(&self, rt: &mut Runtime, i: usize, samples: Samples, took: Duration) {
        let src = &mut rt.sources[i];
        if src.outcome.is_some_and(|(_, ok)| !ok) {
            log::info!("site {}: {} collection recovered", self.name, src.name);
        }
        log::debug!("site {}: {} collected in {:.3}s", self.name, src.name, took.as_secs_f64());
        src.samples = Arc::new(samples);
        src.outcome = Some((Instant::now(), true));
        src.site_down = false;
        src.last_error = None;
        src.last_success = Some(unix_now());
        rt.changed = true;
    }
}

/// A running site as the reload logic sees it.
pub struct PollerHandle {
    pub site: SiteConfig,
    shared: Arc<Shared>,
    pub threads: Vec<JoinHandle<()>>,
    pub collectors: Vec<&'static str>,
}

impl PollerHandle {
    /// Asks every thread of the site to stop; does not wait.
    pub fn stop(&self) {
        self.shared.state.lock().stopped = true;
        self.shared.cv.notify_all();
    }

    /// Hands the site new settings: a new client when they differ, new timings, and a collection of every source.
    pub fn update(&self, site: SiteConfig, timings: Timings) {
        let name = &self.shared.name;
        let client = {
            let current = self.shared.state.lock().site.clone();
            if site == current {
                None
            } else {
                match Client::new(&site, self.shared.api.clone()) {
                    Ok(c) => Some((Arc::new(c), current)),
                    Err(e) => {
                        // The timings below still apply; the site keeps its current connection settings.
                        log::error!("site {name}: new connection settings not applied: {e}");
                        None
                    }
                }
            }
        };
        let mut rt = self.shared.state.lock();
        if let Some((c, old)) = client {
            rt.client = c;
            if site.api_version != old.api_version || site.api_key != old.api_key || site.login != old.login {
                rt.version = site.api_version;
            }
            rt.site = site;
        }
        rt.timings = timings;
        rt.no_version = None;
        rt.refused = 0;
        rt.generation += 1;
        drop(rt);
        self.shared.cv.notify_all();
        log::info!("site {name}: settings reloaded");
    }

    /// A reload that leaves the site's settings unchanged (`systemctl reload` after fixing the server) still ends
    /// a version back-off: if the last negotiation found no API version, every source runs at once and the next
    /// poll negotiates again instead of waiting out the back-off (up to 5 min). Otherwise nothing happens.
    pub fn renegotiate(&self) {
        let mut rt = self.shared.state.lock();
        rt.refused = 0;
        if rt.no_version.take().is_none() {
            return;
        }
        rt.generation += 1;
        drop(rt);
        self.shared.cv.notify_all();
        log::info!("site {}: reload: negotiating the API version again now", self.shared.name);
    }
}

/// Registers `site` in the store (dropping any data it had) and starts its supervisor and source workers.
pub fn start(site: &SiteConfig, config: &Config, store: &Arc<Store>) -> Result<PollerHandle, String> {
    let owner = NEXT_OWNER.fetch_add(1, Ordering::SeqCst);
    let collectors = collector::enabled(config, crate::process::start_ms());
    let mut stats = ApiStats::default();
    if site.api_version.is_none() {
        stats.declare("/ping");
    }
    if site.login.is_some() {
        stats.declare("/login");
    }
    for c in &collectors {
        for e in c.endpoints() {
            stats.declare(e);
        }
    }
    let api = Arc::new(Mutex::new(stats));
    let client = Client::new(site, api.clone())?;
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
    let sources = collectors
        .iter()
        .map(|c| SourceState {
            name: c.source(),
            permission: c.permission(),
            endpoint: c.endpoints().first().copied().unwrap_or("/"),
            interval: c.interval(),
            running: None,
            samples: Arc::default(),
            duration: Histogram::new(COLLECTION_BUCKETS),
            errors: ERROR_KINDS.iter().map(|k| (*k, 0)).collect(),
            last_success: None,
            outcome: None,
            site_down: false,
            last_error: None,
        })
        .collect();
    let shared = Arc::new(Shared {
        owner,
        name: site.site.clone(),
        store: store.clone(),
        api,
        state: Mutex::new(Runtime {
            stopped: false,
            site: site.clone(),
            client: Arc::new(client),
            version: site.api_version,
            no_version: None,
            refused: 0,
            generation: 0,
            timings: Timings::of(config),
            sources,
            changed: true,
        }),
        cv: Condvar::new(),
        detect: Mutex::new(()),
    });
    let mut handle = PollerHandle {
        site: site.clone(),
        shared: shared.clone(),
        threads: Vec::new(),
        collectors: config.collectors.clone(),
    };
    spawn(&mut handle, format!("poll-{}", site.site), {
        let shared = shared.clone();
        move || supervise(&shared)
    })?;
    for (i, c) in collectors.into_iter().enumerate() {
        let name = format!("poll-{}-{}", site.site, c.source());
        let shared = shared.clone();
        if let Err(e) = spawn(&mut handle, name, move || source::run(&shared, i, c)) {
            handle.stop();
            return Err(e);
        }
    }
    Ok(handle)
}

fn spawn(handle: &mut PollerHandle, name: String, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let t = std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|e| format!("cannot start thread {name}: {e}"))?;
    handle.threads.push(t);
    Ok(())
}

/// The supervisor: deadlines, liveness and publishing, until stopped.
fn supervise(shared: &Shared) {
    let mut published_up = None;
    let mut rt = shared.state.lock();
    loop {
        if rt.stopped {
            break;
        }
        let now = Instant::now();
        for i in 0..rt.sources.len() {
            let overdue =
                rt.sources[i].running.as_ref().filter(|a| now >= a.deadline + ABANDON_SLACK && a.abandon()).cloned();
            if let Some(a) = overdue {
                rt.sources[i].running = None;
                rt.sources[i].duration.observe(a.started.elapsed().as_secs_f64());
                let detail = format!(
                    "collection abandoned: no result within collectionTimeout ({}s); NetBackup is not answering, \
                     or raise collectionTimeout if collections are legitimately this slow",
                    a.limit.as_secs_f64()
                );
                let path = rt.sources[i].endpoint.to_string();
                shared.fail(&mut rt, i, &ApiError::Timeout { path, detail });
            }
        }
        let answered = shared.api.lock().last_answer;
        let up = site_up(&rt, answered, now);
        if rt.changed || published_up != Some(up) {
            rt.changed = false;
            published_up = Some(up);
            let (parts, state) = render(shared, &rt, up, answered, now);
            drop(rt);
            shared.store.publish(shared.owner, parts, state);
            rt = shared.state.lock();
            continue;
        }
        shared.cv.wait_for(&mut rt, TICK);
    }
    log::debug!("site {}: poller stopped", shared.name);
}

/// True while NetBackup answers (see the module documentation).
fn site_up(rt: &Runtime, answered: Option<Instant>, now: Instant) -> bool {
    let window = up_window(rt.sources.iter().map(|s| s.interval));
    let recent = answered.is_some_and(|t| now.saturating_duration_since(t) <= window);
    let latest = rt.sources.iter().filter_map(|s| s.outcome.map(|(t, _)| (t, s.site_down))).max_by_key(|(t, _)| *t);
    recent && !latest.is_some_and(|(_, down)| down)
}

/// The site's samples: the site-level series, then each source's last rendering.
fn render(
    shared: &Shared,
    rt: &Runtime,
    up: bool,
    answered: Option<Instant>,
    now: Instant,
) -> (Vec<Arc<Samples>>, SiteState) {
    let site = shared.name.as_str();
    let mut out = Samples::default();
    out.sample(Fam::Up, &[("site", site)], if up { 1.0 } else { 0.0 });
    let window = up_window(rt.sources.iter().map(|s| s.interval));
    let silent = answered.is_none_or(|t| now.saturating_duration_since(t) > window);
    for s in &rt.sources {
        // A collection still waiting on a silent server is overdue: it counts as failed.
        let ok = s.outcome.is_some_and(|(_, ok)| ok) && !(s.running.is_some() && silent);
        out.sample(Fam::CollectorSuccess, &[("site", site), ("source", s.name)], if ok { 1.0 } else { 0.0 });
    }
    for s in &rt.sources {
        if let Some(t) = s.last_success {
            out.sample(Fam::LastScrape, &[("site", site), ("source", s.name)], t.floor());
        }
    }
    if let Some(v) = rt.version {
        out.sample(Fam::ApiVersion, &[("site", site), ("version", &v.to_string())], 1.0);
    }
    for s in &rt.sources {
        out.histogram(Fam::CollectionDuration, &[("site", site), ("source", s.name)], &s.duration);
        for (kind, n) in &s.errors {
            out.sample(Fam::CollectionErrors, &[("site", site), ("source", s.name), ("kind", kind)], *n as f64);
        }
    }
    let api = shared.api.lock();
    for ((endpoint, code), n) in &api.requests {
        out.sample(Fam::ApiRequests, &[("site", site), ("endpoint", endpoint), ("code", code)], *n as f64);
    }
    for (endpoint, h) in &api.durations {
        out.histogram(Fam::ApiRequestDuration, &[("site", site), ("endpoint", endpoint)], h);
    }
    drop(api);
    let mut parts = vec![Arc::new(out)];
    parts.extend(rt.sources.iter().map(|s| s.samples.clone()));
    let state = SiteState {
        name: site.to_string(),
        url: rt.site.base_url(),
        up,
        api_version: rt.version,
        first_cycle_done: rt.sources.iter().all(|s| s.outcome.is_some()),
        last_error: rt.sources.iter().find_map(|s| s.last_error.clone()),
    };
    (parts, state)
}
