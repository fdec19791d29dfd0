//! The published snapshot: exposition bytes rendered once per collection plus each site's state, swapped under a lock.

use crate::config::ApiVersion;
use crate::exposition::{Fam, Families, Samples};
use crate::process::ProcessMetrics;
use parking_lot::{Mutex, RwLock};
use prometheus::proto::MetricFamily;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What the landing page, readiness and health probes know about one site.
#[derive(Debug, Clone, Default)]
pub struct SiteState {
    pub name: String,
    pub url: String,
    pub up: bool,
    pub api_version: Option<ApiVersion>,
    /// The site has finished its first collection cycle (successfully or not).
    pub first_cycle_done: bool,
    pub last_error: Option<String>,
}

/// An immutable view served to scrapers; readers clone the `Arc` and never block a publisher for long.
#[derive(Debug)]
pub struct Snapshot {
    pub body: Arc<[u8]>,
    /// `body` gzip-compressed: made once per snapshot, by the first scrape that asks for gzip or, once any scrape
    /// has, already when the snapshot is built (off the scrape path).
    gzip: OnceLock<Arc<[u8]>>,
    pub sites: Vec<SiteState>,
    pub ready: bool,
}

impl Snapshot {
    /// The compressed exposition.
    pub fn gzip(&self) -> Arc<[u8]> {
        self.gzip.get_or_init(|| compress(&self.body)).clone()
    }
}

fn compress(body: &[u8]) -> Arc<[u8]> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 6), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    Arc::from(enc.finish().unwrap_or_default())
}

/// Outcome counters of configuration reloads, rendered with every snapshot.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub last_successful: bool,
    pub last_success_time: f64,
    /// (trigger, result) → count.
    pub totals: BTreeMap<(String, String), u64>,
}

/// The `trigger` and `result` labels of `nbu_exporter_config_reloads_total`, all exported from the start.
const TRIGGERS: [&str; 3] = ["signal", "file", "http"];
const RESULTS: [&str; 2] = ["success", "failure"];

struct Part {
    /// Which poller owns this site now; publishes from a retired poller are ignored.
    owner: u64,
    /// The site's series: its own, then each source's.
    samples: Vec<Arc<Samples>>,
    state: SiteState,
}

struct Inner {
    families: Families,
    /// The `process_*` families, refreshed by a ticker (see `app`).
    process: Vec<MetricFamily>,
    parts: BTreeMap<String, Part>,
    reload: ReloadStatus,
}

/// Per-site parts and the current snapshot built from them.
pub struct Store {
    inner: Mutex<Inner>,
    current: RwLock<Arc<Snapshot>>,
    gzip_seen: AtomicBool,
    process: ProcessMetrics,
}

/// The exporter's own series: build information and reload outcomes.
fn exporter_samples(r: &ReloadStatus) -> Samples {
    use crate::build_info as b;
    let mut out = Samples::default();
    out.sample(
        Fam::BuildInfo,
        &[
            ("version", b::VERSION),
            ("revision", b::REVISION),
            ("branch", b::BRANCH),
            ("rustc", b::RUSTC),
            ("build_date", b::BUILD_DATE),
        ],
        1.0,
    );
    out.sample(Fam::ReloadSuccessful, &[], if r.last_successful { 1.0 } else { 0.0 });
    out.sample(Fam::ReloadSuccessTime, &[], r.last_success_time.floor());
    for trigger in TRIGGERS {
        for result in RESULTS {
            let n = r.totals.get(&(trigger.to_string(), result.to_string())).copied().unwrap_or(0);
            out.sample(Fam::ReloadsTotal, &[("trigger", trigger), ("result", result)], n as f64);
        }
    }
    out
}

impl Store {
    pub fn new(families: Families, reload: ReloadStatus) -> Self {
        let process = ProcessMetrics::default();
        let store = Store {
            inner: Mutex::new(Inner { families, process: process.collect(), parts: BTreeMap::new(), reload }),
            current: RwLock::new(Arc::new(Snapshot {
                body: Arc::from(&b""[..]),
                gzip: OnceLock::new(),
                sites: Vec::new(),
                ready: false,
            })),
            gzip_seen: AtomicBool::new(false),
            process,
        };
        store.rebuild(&store.inner.lock());
        store
    }

    /// Registers (or re-registers, dropping all its data) a site owned by poller `owner`.
    pub fn add_site(&self, owner: u64, name: &str, url: &str) {
        let mut inner = self.inner.lock();
        let state = SiteState { name: name.to_string(), url: url.to_string(), ..Default::default() };
        inner.parts.insert(name.to_string(), Part { owner, samples: Vec::new(), state });
        self.rebuild(&inner);
    }

    /// Forgets a site and all its series.
    pub fn remove_site(&self, name: &str) {
        let mut inner = self.inner.lock();
        inner.parts.remove(name);
        self.rebuild(&inner);
    }

    /// Replaces one site's samples and state and publishes a new snapshot, if `owner` still owns the site.
    pub fn publish(&self, owner: u64, samples: Vec<Arc<Samples>>, state: SiteState) {
        let mut inner = self.inner.lock();
        match inner.parts.get_mut(&state.name) {
            Some(part) if part.owner == owner => {
                part.samples = samples;
                part.state = state;
            }
            _ => return,
        }
        self.rebuild(&inner);
    }

    pub fn set_families(&self, families: Families) {
        let mut inner = self.inner.lock();
        inner.families = families;
        self.rebuild(&inner);
    }

    /// Refreshes the `process_*` metrics.
    pub fn refresh_process(&self) {
        let families = self.process.collect();
        let mut inner = self.inner.lock();
        inner.process = families;
        self.rebuild(&inner);
    }

    pub fn update_reload(&self, f: impl FnOnce(&mut ReloadStatus)) {
        let mut inner = self.inner.lock();
        f(&mut inner.reload);
        self.rebuild(&inner);
    }

    fn rebuild(&self, inner: &Inner) {
        let own = exporter_samples(&inner.reload);
        let mut parts: Vec<&Samples> = vec![&own];
        parts.extend(inner.parts.values().flat_map(|p| p.samples.iter().map(Arc::as_ref)));
        let mut body = Vec::with_capacity(self.current.read().body.len() + 4096);
        inner.families.encode(&parts, &inner.process, &mut body);
        let sites: Vec<SiteState> = inner.parts.values().map(|p| p.state.clone()).collect();
        let ready = sites.iter().all(|s| s.first_cycle_done);
        let snapshot = Snapshot { body: Arc::from(body), gzip: OnceLock::new(), sites, ready };
        if self.gzip_seen.load(Ordering::Relaxed) {
            let _ = snapshot.gzip.set(compress(&snapshot.body));
        }
        *self.current.write() = Arc::new(snapshot);
    }

    /// A scrape asked for gzip: from now on each snapshot is compressed when it is built.
    pub fn note_gzip(&self) {
        self.gzip_seen.store(true, Ordering::Relaxed);
    }

    /// The current snapshot (a pointer copy).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }
}
