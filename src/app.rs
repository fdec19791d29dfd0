//! Wiring: config → pollers → snapshot store → HTTP, plus the signal thread that ends it all cleanly.

use crate::cli::{self, Cli};
use crate::collector::jobs::JobsCollector;
use crate::collector::storage::StorageCollector;
use crate::collector::Collector;
use crate::config::{self, duration, Config};
use crate::exposition::Families;
use crate::http::{self, HttpServer};
use crate::poller::{SitePoller, Stop};
use crate::snapshot::Store;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::mpsc;
use std::sync::Arc;

/// Runs the exporter until SIGTERM/SIGINT; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if cli.help {
        print!("{}", cli::USAGE);
        return 0;
    }
    if cli.version {
        println!("nbu_exporter {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let loaded = match config::load(&cli.config_file) {
        Ok(l) => l,
        Err(e) => {
            for line in &e.errors {
                eprintln!("config error: {line}");
            }
            if !cli.check_config {
                eprintln!(
                    "nbu_exporter: not started; fix {} and start again",
                    cli.config_file
                );
            }
            return 1;
        }
    };
    if cli.check_config {
        for w in &loaded.warnings {
            eprintln!("config warning: {w}");
        }
        println!("OK");
        return 0;
    }
    let mut config = loaded.config;
    if let Some(p) = &cli.telemetry_path {
        config.server.telemetry_path = p.clone();
    }
    let listen = match cli
        .listen_address
        .as_deref()
        .map(cli::normalize_listen_address)
    {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            eprintln!("nbu_exporter: {e}");
            return 1;
        }
        None => config.server.listen_address(),
    };
    crate::logging::init(
        cli.log_level,
        cli.log_format,
        config.server.log_name.as_deref(),
    );
    for w in &loaded.warnings {
        log::warn!("config: {w}");
    }
    match serve(&config, &listen) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn collectors_for(config: &Config) -> Vec<Box<dyn Collector>> {
    let mut v: Vec<Box<dyn Collector>> = Vec::new();
    if config.jobs_enabled {
        v.push(Box::new(JobsCollector::new(
            config.server.collection_interval,
            config.server.job_window(),
        )));
    }
    if config.storage_enabled {
        v.push(Box::new(StorageCollector::new(config.server.cache_ttl)));
    }
    v
}

fn serve(config: &Config, listen: &str) -> Result<(), String> {
    let families = Families::new(
        &duration::format(config.server.cache_ttl),
        &duration::format(config.server.job_window()),
    );
    let sites: Vec<(String, String)> = config
        .sites
        .iter()
        .map(|s| (s.site.clone(), s.base_url()))
        .collect();
    let store = Arc::new(Store::new(families, &sites));

    let listener = http::bind(listen).map_err(|e| {
        format!("cannot listen on {listen}: {e}; pick another port with --web.listen-address or server.port")
    })?;
    let bound = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    let http = HttpServer::start(
        listener,
        config.server.workers,
        store.clone(),
        config.server.telemetry_path.clone(),
    )
    .map_err(|e| format!("cannot start HTTP workers: {e}"))?;
    log::info!(
        "nbu_exporter {} listening on {bound}, metrics at {} ({} site(s), job window {}, collection every {}, storage TTL {})",
        env!("CARGO_PKG_VERSION"),
        config.server.telemetry_path,
        config.sites.len(),
        duration::format(config.server.job_window()),
        duration::format(config.server.collection_interval),
        duration::format(config.server.cache_ttl),
    );

    let stop = Arc::new(Stop::default());
    let mut pollers = Vec::new();
    for site in &config.sites {
        let poller = SitePoller::new(site.clone(), collectors_for(config), store.clone())?;
        pollers.push(
            poller
                .spawn(stop.clone())
                .map_err(|e| format!("cannot start poller thread: {e}"))?,
        );
    }

    let (tx, rx) = mpsc::channel();
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let signal_handle = signals.handle();
    let signal_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut terminating = false;
            for sig in signals.forever() {
                match sig {
                    SIGHUP => log::warn!(
                        "SIGHUP received: live configuration reload is not available in this version; restart nbu_exporter to apply changes"
                    ),
                    _ if terminating => {
                        log::warn!("second termination signal: exiting immediately");
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

    let sig = rx.recv().unwrap_or(SIGTERM);
    log::info!(
        "received {}, shutting down",
        if sig == SIGINT { "SIGINT" } else { "SIGTERM" }
    );
    stop.stop();
    http.shutdown();
    for p in pollers {
        let _ = p.join();
    }
    signal_handle.close();
    let _ = signal_thread.join();
    log::info!("stopped");
    Ok(())
}
