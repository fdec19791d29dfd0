//! Configuration reload: read, parse and validate with no lock held, then swap the config and apply it to the
//! running exporter (pollers, timings, HELP texts, log level, metrics path). One function serves every trigger.

use crate::collector::Timings;
use crate::config::{self, duration, Config};
use crate::exposition::{Families, HelpContext};
use crate::poller::{self, PollerHandle};
use crate::snapshot::Store;
use crate::web_config::WebSecurity;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What asked for a reload (the `trigger` label of `nbu_exporter_config_reloads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    File,
    Http,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "signal",
            Trigger::File => "file",
            Trigger::Http => "http",
        }
    }
}

/// Settings fixed by the command line, which a reload must not undo.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub telemetry_path: Option<String>,
    pub log_level: Option<log::LevelFilter>,
    /// The address actually bound; changing it needs a restart.
    pub listen: String,
}

/// The settings the HELP texts of `c` name.
fn help_context(c: &Config) -> HelpContext {
    HelpContext {
        cache_ttl: duration::format(c.server.cache_ttl),
        ttls: c.collector_ttls.iter().map(|(n, t)| (*n, duration::format(*t))).collect(),
        job_window: duration::format(c.server.job_window()),
        up_window: duration::format(poller::up_window_of(c)),
    }
}

pub fn families_for(c: &Config) -> Families {
    Families::new(&help_context(c))
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn content_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

pub struct Reloader {
    path: String,
    overrides: Overrides,
    store: Arc<Store>,
    config: RwLock<Arc<Config>>,
    /// The metrics path the HTTP workers serve (a reload may move it).
    pub telemetry_path: Arc<RwLock<String>>,
    pollers: Mutex<BTreeMap<String, PollerHandle>>,
    /// Serialises reloads; never held by scrapes.
    apply: Mutex<()>,
    /// Hash of the file content last read, so the file watcher reloads only on a real change.
    last_hash: Mutex<u64>,
    retired: Mutex<Vec<JoinHandle<()>>>,
    /// `--web.config.file` settings, reloaded together with the config file.
    web: Arc<WebSecurity>,
}

impl Reloader {
    /// Takes the validated startup config and starts a poller per site.
    pub fn start(
        path: &str,
        text: &str,
        mut config: Config,
        overrides: Overrides,
        store: Arc<Store>,
        web: Arc<WebSecurity>,
    ) -> Result<Arc<Self>, String> {
        apply_overrides(&mut config, &overrides);
        let r = Arc::new(Reloader {
            path: path.to_string(),
            telemetry_path: Arc::new(RwLock::new(config.server.telemetry_path.clone())),
            overrides,
            store,
            config: RwLock::new(Arc::new(config.clone())),
            pollers: Mutex::new(BTreeMap::new()),
            apply: Mutex::new(()),
            last_hash: Mutex::new(content_hash(text)),
            retired: Mutex::new(Vec::new()),
            web,
        });
        let mut pollers = r.pollers.lock();
        for site in &config.sites {
            pollers.insert(site.site.clone(), poller::start(site, &config, &r.store)?);
        }
        drop(pollers);
        r.store.update_reload(|s| {
            s.last_successful = true;
            s.last_success_time = unix_now();
        });
        Ok(r)
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    /// True when the config file's content differs from what was last read.
    pub fn file_changed(&self) -> bool {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => content_hash(&text) != *self.last_hash.lock(),
            Err(_) => false, // mid-rename or deleted: wait for the next event
        }
    }

    /// Reloads the configuration file. On failure the running configuration stays untouched.
    pub fn reload(&self, trigger: Trigger) -> Result<(), String> {
        let _serial = self.apply.lock();
        crate::notify::send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading configuration",
            crate::notify::monotonic_usec()
        ));
        let started = Instant::now();
        // Parse and validate both files before changing anything.
        let parsed = config::read(&self.path)
            .and_then(|text| {
                *self.last_hash.lock() = content_hash(&text);
                config::parse_file_text(&text, Some(std::path::Path::new(&self.path)), &|k| std::env::var(k).ok())
            })
            .and_then(|loaded| match self.web.prepare() {
                Ok(web) => Ok((loaded, web)),
                Err(e) => Err(config::ConfigError { errors: vec![e] }),
            });
        let result = match parsed {
            Err(e) => {
                for line in &e.errors {
                    log::error!(
                        "config reload ({}) failed, keeping the running configuration: {line}",
                        trigger.as_str()
                    );
                }
                Err(e.to_string())
            }
            Ok((loaded, web)) => {
                for w in &loaded.warnings {
                    log::warn!("config: {w}");
                }
                self.apply(loaded.config).map(|mut changes| {
                    if let Some(web) = web {
                        changes.extend(self.web.commit(web));
                    }
                    log::info!(
                        "configuration reloaded ({}) in {:.0} ms: {}",
                        trigger.as_str(),
                        started.elapsed().as_secs_f64() * 1000.0,
                        if changes.is_empty() { "no changes".to_string() } else { changes.join(", ") }
                    );
                })
            }
        };
        let ok = result.is_ok();
        self.store.update_reload(|s| {
            s.last_successful = ok;
            if ok {
                s.last_success_time = unix_now();
            }
            let result = if ok { "success" } else { "failure" };
            *s.totals.entry((trigger.as_str().to_string(), result.to_string())).or_default() += 1;
        });
        let sites = self.config().sites.len();
        crate::notify::send(&format!(
            "READY=1\nSTATUS={} site(s); last reload {}",
            sites,
            if ok { "succeeded" } else { "FAILED, running the previous configuration" }
        ));
        result
    }

    /// Applies a validated config; returns a summary of what changed.
    fn apply(&self, mut new: Config) -> Result<Vec<String>, String> {
        apply_overrides(&mut new, &self.overrides);
        let old = self.config();
        let mut changes = Vec::new();
        if new.server.listen_address() != old.server.listen_address() || new.server.workers != old.server.workers {
            log::warn!(
                "server.host/port/workers changed; they apply at the next restart (still listening on {})",
                self.overrides.listen
            );
            changes.push("listen address or workers (needs a restart)".to_string());
        }
        let limits = |s: &crate::config::ServerConfig| (s.max_connections, s.connection_timeout, s.read_header_timeout);
        if limits(&new.server) != limits(&old.server) {
            crate::http::apply_limits(crate::http::Limits::of(&new.server));
            changes.push("client connection limits (for new connections)".to_string());
        }
        if new.server.telemetry_path != old.server.telemetry_path {
            *self.telemetry_path.write() = new.server.telemetry_path.clone();
            changes.push(format!("metrics path {}", new.server.telemetry_path));
        }
        if new.server.log_level != old.server.log_level {
            crate::logging::set_level(new.server.log_level);
            changes.push(format!("log level {}", new.server.log_level));
        }
        let timings = Timings::of(&new);
        if help_context(&new) != help_context(&old) {
            self.store.set_families(families_for(&new));
        }
        if timings != Timings::of(&old) {
            changes.push("intervals".to_string());
        }
        let collectors = new.collectors.clone();
        let mut failures = Vec::new();
        let mut pollers = self.pollers.lock();
        let names: Vec<String> = pollers.keys().cloned().collect();
        for name in names {
            if !new.sites.iter().any(|s| s.site == name) {
                if let Some(h) = pollers.remove(&name) {
                    self.retire(h);
                }
                self.store.remove_site(&name);
                changes.push(format!("site {name} removed"));
            }
        }
        for site in &new.sites {
            let restart = match pollers.get(&site.site) {
                None => {
                    changes.push(format!("site {} added", site.site));
                    true
                }
                Some(h) => {
                    let moved = h.site.scheme != site.scheme
                        || h.site.host != site.host
                        || h.site.port != site.port
                        || h.site.uri != site.uri;
                    if moved || h.collectors != collectors {
                        // A different server (or collector set): nothing of the old data may survive.
                        changes.push(format!("site {} now at {}", site.site, site.base_url()));
                        true
                    } else {
                        if h.site != *site || timings != Timings::of(&old) {
                            h.update(site.clone(), timings);
                            if h.site != *site {
                                changes.push(format!("site {} settings", site.site));
                            }
                        } else {
                            h.renegotiate();
                        }
                        false
                    }
                }
            };
            if restart {
                if let Some(h) = pollers.remove(&site.site) {
                    self.retire(h);
                }
                // Keep applying the other sites; the reload is reported as failed at the end.
                match poller::start(site, &new, &self.store) {
                    Ok(h) => {
                        pollers.insert(site.site.clone(), h);
                    }
                    Err(e) => failures.push(e),
                }
            } else if let Some(h) = pollers.get_mut(&site.site) {
                h.site = site.clone();
            }
        }
        drop(pollers);
        *self.config.write() = Arc::new(new);
        if failures.is_empty() {
            Ok(changes)
        } else {
            Err(failures.join("; "))
        }
    }

    /// Stops a poller without waiting for it: an in-flight NetBackup request ends at its timeout.
    fn retire(&self, h: PollerHandle) {
        h.stop();
        let mut retired = self.retired.lock();
        retired.retain(|t| !t.is_finished());
        retired.extend(h.threads);
    }

    /// Stops every poller and waits up to `grace` for them; returns how many were still busy.
    pub fn shutdown(&self, grace: Duration) -> usize {
        let mut threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.retired.lock());
        for (_, h) in std::mem::take(&mut *self.pollers.lock()) {
            h.stop();
            threads.extend(h.threads);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !threads.iter().all(JoinHandle::is_finished) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (done, busy): (Vec<_>, Vec<_>) = threads.into_iter().partition(JoinHandle::is_finished);
        for t in done {
            let _ = t.join();
        }
        busy.len()
    }
}

fn apply_overrides(c: &mut Config, o: &Overrides) {
    if let Some(p) = &o.telemetry_path {
        c.server.telemetry_path = p.clone();
    }
    if let Some(l) = o.log_level {
        c.server.log_level = l;
    }
}

/// Coalesces reload requests: any number of requests while a reload runs yield one more reload.
#[derive(Default)]
pub struct Queue {
    state: Mutex<(Option<Trigger>, bool)>,
    cv: Condvar,
}

impl Queue {
    pub fn request(&self, t: Trigger) {
        let mut g = self.state.lock();
        g.0 = Some(t);
        self.cv.notify_one();
    }

    pub fn close(&self) {
        self.state.lock().1 = true;
        self.cv.notify_all();
    }

    /// Runs reloads as requested until closed.
    pub fn serve(&self, reloader: &Reloader) {
        loop {
            let trigger = {
                let mut g = self.state.lock();
                loop {
                    if g.1 {
                        return;
                    }
                    if let Some(t) = g.0.take() {
                        break t;
                    }
                    self.cv.wait(&mut g);
                }
            };
            let _ = reloader.reload(trigger);
        }
    }
}
