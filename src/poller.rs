//! One background poller thread per NetBackup site: negotiates the API version, runs each collector when due,
//! and publishes the site's rendered samples. A slow or dead site only ever delays itself.

use crate::collector::{Collector, Ctx};
use crate::config::{ApiVersion, SiteConfig};
use crate::exposition::{Fam, Samples};
use crate::netbackup::{ApiError, Client};
use crate::snapshot::{SiteState, Store};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A stop flag that sleeping threads can wait on.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }
    /// Sleeps until `deadline` or until stopped; returns true when stopped.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut g = self.stopped.lock();
        while !*g {
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
        *g
    }
}

/// Retry delay after a failed collection, capped so a recovered site is noticed quickly.
const RETRY_CAP: Duration = Duration::from_secs(30);

struct Source {
    collector: Box<dyn Collector>,
    due: Instant,
    last_success: Option<f64>,
    last_ok: Option<bool>,
    last_error: Option<String>,
}

pub struct SitePoller {
    site: SiteConfig,
    client: Client,
    version: Option<ApiVersion>,
    sources: Vec<Source>,
    store: Arc<Store>,
    first_cycle_done: bool,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl SitePoller {
    pub fn new(
        site: SiteConfig,
        collectors: Vec<Box<dyn Collector>>,
        store: Arc<Store>,
    ) -> Result<Self, String> {
        let client = Client::new(&site)?;
        log::info!(
            "site {}: polling {} (proxy: {}, API version: {})",
            site.site,
            site.base_url(),
            client.proxy_description(),
            site.api_version
                .map_or_else(|| "auto-detect".to_string(), |v| v.to_string())
        );
        if site.insecure_skip_verify {
            log::warn!("site {}: insecureSkipVerify is true; the NetBackup server's TLS certificate is NOT verified", site.site);
        }
        let now = Instant::now();
        let sources = collectors
            .into_iter()
            .map(|collector| Source {
                collector,
                due: now,
                last_success: None,
                last_ok: None,
                last_error: None,
            })
            .collect();
        Ok(SitePoller {
            version: site.api_version,
            site,
            client,
            sources,
            store,
            first_cycle_done: false,
        })
    }

    pub fn spawn(self, stop: Arc<Stop>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("poll-{}", self.site.site))
            .spawn(move || self.run(&stop))
    }

    fn run(mut self, stop: &Stop) {
        loop {
            self.cycle(stop);
            let next = self
                .sources
                .iter()
                .map(|s| s.due)
                .min()
                .unwrap_or_else(|| Instant::now() + RETRY_CAP);
            if stop.wait_until(next) {
                break;
            }
        }
        log::debug!("site {}: poller stopped", self.site.site);
    }

    fn fail(&self, src: &mut Source, err: &ApiError) {
        let msg = err.to_string();
        if src.last_error.as_deref() != Some(msg.as_str()) {
            log::warn!(
                "site {}: {} collection failed: {msg}",
                self.site.site,
                src.collector.source()
            );
        } else {
            log::debug!(
                "site {}: {} collection failed again: {msg}",
                self.site.site,
                src.collector.source()
            );
        }
        src.last_ok = Some(false);
        src.last_error = Some(msg);
        src.due = Instant::now() + src.collector.interval().min(RETRY_CAP);
    }

    /// Runs every due collector once, then publishes.
    pub fn cycle(&mut self, stop: &Stop) {
        let now = Instant::now();
        let due: Vec<usize> = (0..self.sources.len())
            .filter(|&i| self.sources[i].due <= now)
            .collect();
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
                if stop.is_stopped() {
                    break;
                }
                let src = &mut sources[i];
                let ctx = Ctx {
                    client: &self.client,
                    version,
                    site: &self.site.site,
                };
                let started = Instant::now();
                match src.collector.collect(&ctx) {
                    Ok(()) => {
                        if src.last_ok == Some(false) {
                            log::info!(
                                "site {}: {} collection recovered",
                                self.site.site,
                                src.collector.source()
                            );
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
                        if matches!(e, ApiError::NotAcceptable { .. })
                            && self.site.api_version.is_none()
                        {
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
                out.sample(
                    Fam::LastScrape,
                    &[("site", site), ("source", s.collector.source())],
                    t.floor(),
                );
            }
        }
        if let Some(v) = self.version {
            out.sample(
                Fam::ApiVersion,
                &[("site", site), ("version", &v.to_string())],
                1.0,
            );
        }
        for s in &self.sources {
            s.collector.render(site, &mut out);
        }
        let state = SiteState {
            name: site.to_string(),
            url: self.site.base_url(),
            up,
            api_version: self.version,
            first_cycle_done: self.first_cycle_done,
            last_error: self.sources.iter().find_map(|s| s.last_error.clone()),
        };
        self.store.publish(out, state);
    }
}
