//! Soak: the exporter against the simulator with live job churn, a fault injected every few seconds, a reload
//! every few seconds and continuous scrapes. At the end: no panic, RSS growth under 10 % after warm-up, and the
//! `_total` counters equal the simulator's ground truth. `make soak` runs it for `$SOAK_SECONDS` (default 600; CI 60).

mod common;

use common::{config, expected, get, Exporter, Sim};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "long-running; run with make soak"]
fn soak_with_churn_faults_reloads_and_scrapes() {
    let total = Duration::from_secs(std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600));
    let sim = Sim::start("10.4", &["--jobs-per-hour", "3600"]);
    let yaml = |interval: &str| {
        config(
            &format!("  collectionInterval: {interval}\n  cacheTTL: 3s\n"),
            &[sim.site("dc1", "test-key", "    requestTimeout: 3s\n")],
        )
    };
    let exp = Exporter::start(&yaml("1s"));
    exp.wait_ready();
    let pid = exp.child.id();

    let stop = Arc::new(AtomicBool::new(false));
    let (scrapes, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let scraper = {
        let (url, stop, scrapes, failed) = (exp.url("/metrics"), stop.clone(), scrapes.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if get(&url).0 == 200 {
                    scrapes.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let faults = [
        "fail=503&fail_count=3&fail_paths=all",
        "garbage=1&fail_paths=jobs",
        "latency_ms=300",
        "fail=429&fail_count=1&retry_after=1&fail_paths=jobs",
        "hang_ms=4000&fail_paths=storage",
    ];
    let clear = "fail=0&garbage=0&latency_ms=0&hang_ms=0&fail_paths=all";
    let started = Instant::now();
    let warm_up = total / 5;
    let mut rss_after_warm_up = None;
    let mut tick = 0u64;
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(1));
        tick += 1;
        if tick.is_multiple_of(6) {
            sim.control(faults[(tick / 6) as usize % faults.len()]);
        } else if tick % 6 == 2 {
            sim.control(clear);
        }
        if tick.is_multiple_of(4) {
            // A reload every 4 s, alternating a real change and a no-op edit.
            std::fs::write(exp.config_path(), yaml(if tick.is_multiple_of(8) { "2s" } else { "1s" })).unwrap();
        }
        if rss_after_warm_up.is_none() && started.elapsed() >= warm_up {
            rss_after_warm_up = Some(rss_kib(pid));
        }
        assert!(exp.child.id() == pid && std::fs::metadata(format!("/proc/{pid}")).is_ok(), "the exporter died");
    }
    stop.store(true, Ordering::SeqCst);
    scraper.join().unwrap();
    sim.control(clear);

    let log = exp.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(failed.load(Ordering::SeqCst), 0, "scrapes failed during the soak");
    let (warm, end) = (rss_after_warm_up.unwrap_or(0), rss_kib(pid));
    eprintln!(
        "soak: {total:?}, {} scrapes, RSS {warm} KiB after warm-up, {end} KiB at the end",
        scrapes.load(Ordering::SeqCst)
    );
    assert!(warm > 0 && (end as f64) < warm as f64 * 1.10, "RSS grew from {warm} KiB to {end} KiB");
    let m = exp.scrape();
    assert!(m
        .get("nbu_exporter_config_reloads_total", &[("trigger", "file"), ("result", "success")])
        .is_some_and(|n| n >= 2.0));

    // Nothing lost, nothing double-counted: the counters equal the ground truth.
    sim.control("freeze=1");
    exp.wait_collections("dc1", "jobs", 2);
    let truth = sim.truth();
    let m = exp.scrape();
    let e = expected(&truth, 3_600_000, exp.counting_since());
    assert_eq!(m.by_labels("nbu_jobs_finished_total", "dc1"), e.finished, "finished jobs counted exactly once");
    assert_eq!(m.by_labels("nbu_jobs_transferred_bytes_total", "dc1"), e.finished_bytes);
}
