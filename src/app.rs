//! Wiring: config → pollers → snapshot store → HTTP, with the reload thread, the config watcher and the signal
//! thread beside them, and a bounded shutdown.

use crate::cli::{self, Cli};
use crate::config::{self, duration};
use crate::health::Health;
use crate::http::{self, HttpServer, Routes};
use crate::reload::{self, Overrides, Queue, Reloader, Trigger};
use crate::snapshot::{ReloadStatus, Store};
use crate::web_config::{WebConfig, WebSecurity};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How often the `process_*` metrics are re-read.
const PROCESS_REFRESH: Duration = Duration::from_secs(5);

/// How long shutdown waits for pollers busy in a NetBackup request before exiting without them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the exporter until SIGTERM/SIGINT; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    // Jobs that finished before this moment are the baseline of the job counters, not increments.
    let started = crate::process::start_ms();
    if cli.help {
        print!("{}", cli::USAGE);
        return 0;
    }
    if cli.version {
        print!("{}", crate::build_info::version_text());
        return 0;
    }
    let loaded = config::read(&cli.config_file).and_then(|text| {
        config::parse_file_text(&text, Some(std::path::Path::new(&cli.config_file)), &|k| std::env::var(k).ok())
            .map(|l| (text, l))
    });
    let (text, loaded) = match loaded {
        Ok(l) => l,
        Err(e) => {
            for line in &e.errors {
                eprintln!("config error: {line}");
            }
            if !cli.check_config {
                eprintln!("nbu_exporter: not started; fix {} and start again", cli.config_file);
            }
            return 1;
        }
    };
    let web = match cli.web_config_file.as_deref().map(|p| WebConfig::load(std::path::Path::new(p))).transpose() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("config error: {e}");
            if !cli.check_config {
                eprintln!("nbu_exporter: not started; fix the web config file and start again");
            }
            return 1;
        }
    };
    if cli.check_config {
        for w in loaded.warnings.iter().chain(web.iter().flat_map(|w| &w.warnings)) {
            eprintln!("config warning: {w}");
        }
        println!("OK");
        return 0;
    }
    let listen = match cli.listen_address.as_deref().map(cli::normalize_listen_address) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            eprintln!("nbu_exporter: {e}");
            return 1;
        }
        None => loaded.config.server.listen_address(),
    };
    crate::logging::init(
        cli.log_level.unwrap_or(loaded.config.server.log_level),
        cli.log_format,
        loaded.config.server.log_name.as_deref(),
    );
    for w in &loaded.warnings {
        log::warn!("config: {w}");
    }
    for w in web.iter().flat_map(|w| &w.warnings) {
        log::warn!("web config: {w}");
    }
    log::info!(
        "counting jobs that finish at or after {} (the second the exporter started; earlier ones are the baseline)",
        crate::netbackup::time::format_timestamp(started.div_euclid(1000) * 1000)
    );
    match serve(&cli, &text, loaded.config, web, &listen) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn serve(cli: &Cli, text: &str, config: config::Config, web: Option<WebConfig>, listen: &str) -> Result<(), String> {
    let (security, tls) = match (web, cli.web_config_file.as_deref()) {
        (Some(web), Some(path)) => {
            let security = WebSecurity::new(std::path::Path::new(path), &web);
            let tls = security.server_config(&web)?;
            (Arc::new(security), tls)
        }
        _ => (Arc::new(WebSecurity::none()), None),
    };
    let listener = http::bind(listen).map_err(|e| {
        format!("cannot listen on {listen}: {e}; pick another port with --web.listen-address or server.port")
    })?;
    let bound = listener.local_addr().map_or_else(|_| listen.to_string(), |a| a.to_string());
    let store = Arc::new(Store::new(reload::families_for(&config), ReloadStatus::default()));
    let overrides =
        Overrides { telemetry_path: cli.telemetry_path.clone(), log_level: cli.log_level, listen: bound.clone() };
    let workers = config.server.workers;
    let limits = http::Limits::of(&config.server);
    let reloader = Reloader::start(&cli.config_file, text, config, overrides, store.clone(), security.clone())?;
    let cfg = reloader.config();
    let routes = Routes {
        store: store.clone(),
        telemetry_path: reloader.telemetry_path.clone(),
        health: Arc::new(Health::new(reloader.clone(), store.clone())),
        reloader: reloader.clone(),
        lifecycle: cli.enable_lifecycle,
        health_waiters: Arc::default(),
        security: security.clone(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let http = HttpServer::start(listener, tls, workers, limits, routes)
        .map_err(|e| format!("cannot start HTTP workers: {e}"))?;
    log::info!(
        "nbu_exporter {} listening on {scheme}://{bound}{}, metrics at {} ({} site(s), job window {}, collection every {}, storage TTL {})",
        env!("CARGO_PKG_VERSION"),
        if security.auth_required() { " with basic auth" } else { "" },
        cfg.server.telemetry_path,
        cfg.sites.len(),
        duration::format(cfg.server.job_window()),
        duration::format(cfg.server.collection_interval),
        duration::format(cfg.server.cache_ttl),
    );

    // Reloads: SIGHUP and file edits queue one (coalesced); POST /-/reload runs one directly.
    let queue = Arc::new(Queue::default());
    let reload_thread = {
        let (q, r) = (queue.clone(), reloader.clone());
        std::thread::Builder::new().name("reload".into()).spawn(move || q.serve(&r)).map_err(|e| e.to_string())?
    };
    let watch_stop = Arc::new(AtomicBool::new(false));
    // process_* metrics: refreshed every few seconds so the scrape path stays a copy of ready bytes.
    let ticker = {
        let (store, stop) = (store.clone(), watch_stop.clone());
        std::thread::Builder::new()
            .name("process-metrics".into())
            .spawn(move || {
                let step = Duration::from_millis(250);
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(step); // short steps: shutdown never waits for a full refresh period
                    waited += step;
                    if waited >= PROCESS_REFRESH {
                        waited = Duration::ZERO;
                        store.refresh_process();
                    }
                }
            })
            .map_err(|e| e.to_string())?
    };
    let watcher =
        match crate::watch::spawn(cli.config_file.clone(), reloader.clone(), queue.clone(), watch_stop.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                log::warn!("cannot watch {} for changes ({e}); reload with SIGHUP instead", cli.config_file);
                None
            }
        };

    let (tx, rx) = mpsc::channel();
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let signal_handle = signals.handle();
    let q = queue.clone();
    let signal_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut terminating = false;
            for sig in signals.forever() {
                match sig {
                    SIGHUP => q.request(Trigger::Signal),
                    _ if terminating => {
                        eprintln!("nbu_exporter: second termination signal, exiting immediately");
                        std::process::exit(1);
                    }
                    _ => {
                        terminating = true;
                        let _ = tx.send(sig);
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start signal thread: {e}"))?;
    crate::notify::send(&format!("READY=1\nSTATUS=serving {} site(s) on {bound}", cfg.sites.len()));

    let sig = rx.recv().unwrap_or(SIGTERM);
    log::info!("received {}, shutting down", if sig == SIGINT { "SIGINT" } else { "SIGTERM" });
    crate::notify::send("STOPPING=1\nSTATUS=shutting down");
    http.shutdown();
    let busy = reloader.shutdown(SHUTDOWN_GRACE);
    if busy > 0 {
        log::warn!("{busy} poller(s) still waiting on NetBackup after {}s; abandoning them", SHUTDOWN_GRACE.as_secs());
    }
    watch_stop.store(true, Ordering::SeqCst);
    queue.close();
    signal_handle.close();
    let _ = reload_thread.join();
    let _ = ticker.join();
    let _ = signal_thread.join();
    if let Some(w) = watcher {
        let _ = w.join();
    }
    log::info!("stopped");
    Ok(())
}
