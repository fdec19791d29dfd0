//! `/health`: a live connectivity check of every site, shared by concurrent callers and reused for a moment, so a
//! flood of health checks never becomes a flood on NetBackup.

use crate::config::SiteConfig;
use crate::netbackup::Client;
use crate::reload::Reloader;
use crate::snapshot::Store;
use parking_lot::Mutex;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Per-site time limit of one check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a result answers further calls.
pub const REUSE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Report {
    pub healthy: bool,
    pub text: String,
}

pub struct Health {
    reloader: Arc<Reloader>,
    store: Arc<Store>,
    /// Held for the whole check: concurrent callers wait for it and then reuse its result.
    last: Mutex<Option<(Instant, Arc<Report>)>>,
}

fn check_site(site: SiteConfig, version: Option<crate::config::ApiVersion>) -> Result<(), String> {
    let mut s = site;
    s.connect_timeout = s.connect_timeout.min(CHECK_TIMEOUT);
    s.request_timeout = s.request_timeout.min(CHECK_TIMEOUT);
    let client = Client::new(&s, Default::default())?;
    let version = match version.or(s.api_version) {
        Some(v) => v,
        None => client.detect_version().map_err(|e| e.to_string())?,
    };
    client
        .get_json::<serde::de::IgnoredAny>("/admin/jobs", &[("page[limit]", "1".into())], version)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Health {
    pub fn new(reloader: Arc<Reloader>, store: Arc<Store>) -> Self {
        Health { reloader, store, last: Mutex::new(None) }
    }

    pub fn check(&self) -> Arc<Report> {
        let mut last = self.last.lock();
        if let Some((at, report)) = last.as_ref() {
            if at.elapsed() < REUSE {
                return report.clone();
            }
        }
        let sites = self.reloader.config().sites.clone();
        let versions = self.store.snapshot().sites.clone();
        let (tx, rx) = mpsc::channel();
        for site in sites.iter().cloned() {
            let tx = tx.clone();
            let version = versions.iter().find(|s| s.name == site.site).and_then(|s| s.api_version);
            // A check thread that cannot start shows up below as a site without an answer.
            let _ = std::thread::Builder::new().name(format!("health-{}", site.site)).spawn(move || {
                let _ = tx.send((site.site.clone(), check_site(site, version)));
            });
        }
        drop(tx);
        let deadline = Instant::now() + CHECK_TIMEOUT + Duration::from_millis(500);
        let mut results: Vec<(String, Result<(), String>)> = Vec::new();
        while results.len() < sites.len() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(r) => results.push(r),
                Err(_) => break,
            }
        }
        for s in &sites {
            if !results.iter().any(|(n, _)| *n == s.site) {
                results.push((s.site.clone(), Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs()))));
            }
        }
        results.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let healthy = results.iter().all(|(_, r)| r.is_ok());
        let text = results
            .iter()
            .map(|(n, r)| match r {
                Ok(()) => format!("site {n}: OK\n"),
                Err(e) => format!("site {n}: FAILED: {e}\n"),
            })
            .collect();
        let report = Arc::new(Report { healthy, text });
        *last = Some((Instant::now(), report.clone()));
        report
    }
}
