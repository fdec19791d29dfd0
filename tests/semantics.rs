//! Prometheus semantics against the simulator: `nbu_up` through hangs and a refused port, independent sources and
//! sites, counters across a restart, a cumulative duration histogram, and series that exist from the start.

mod common;

use common::{config, finished_between, nonzero, wait_for, Exporter, Metrics, Sim};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The tests' `collectionInterval`; the liveness window is this plus 10 s.
const INTERVAL: Duration = Duration::from_secs(2);
/// Slack for the supervisor's tick and the tests' own polling of the metrics page.
const SLACK: Duration = Duration::from_millis(1500);

fn up(exp: &Exporter, site: &str) -> Option<f64> {
    exp.scrape().get("nbu_up", &[("site", site)])
}

fn last_scrape(m: &Metrics, site: &str, source: &str) -> f64 {
    m.get("nbu_last_scrape_timestamp_seconds", &[("site", site), ("source", source)]).unwrap_or(0.0)
}

/// Waits until `nbu_up{site}` reads `want`; returns how long that took.
fn until_up(exp: &Exporter, site: &str, want: f64, timeout: Duration) -> Duration {
    let t = Instant::now();
    wait_for(timeout, &format!("nbu_up{{site={site}}} {want}"), || (up(exp, site) == Some(want)).then_some(()));
    t.elapsed()
}

#[test]
fn nbu_up_follows_hangs_and_a_refused_port_while_other_sources_and_sites_stay_fresh() {
    let a = Sim::start("10.4", &[]);
    let b = Sim::start("10.4", &[]);
    let server = "  scrapingInterval: 1h\n  collectionInterval: 2s\n  cacheTTL: 3s\n";
    // Default request timeout on dc1: nbu_up must not wait for it.
    let dc1 = a.site("dc1", "test-key", "    requestTimeout: 60s\n");
    let exp = Exporter::start(&config(server, &[dc1, b.site("dc2", "test-key", "")]));
    exp.wait_ready();
    until_up(&exp, "dc1", 1.0, Duration::from_secs(10));
    assert!(exp.scrape().text.contains("no request was answered for 12s"), "HELP names the window");

    // 1. Only dc1's storage endpoint hangs: its jobs and dc2 keep collecting on their own schedules.
    a.control("hold=1&fail_paths=storage");
    wait_for(Duration::from_secs(10), "a held storage request", || (a.stats().get("held") >= Some(&1)).then_some(()));
    let before = exp.scrape();
    std::thread::sleep(Duration::from_secs(7));
    let during = exp.scrape();
    assert_eq!(last_scrape(&during, "dc1", "storage"), last_scrape(&before, "dc1", "storage"), "storage is hung");
    assert!(last_scrape(&during, "dc1", "jobs") >= last_scrape(&before, "dc1", "jobs") + 4.0, "dc1 jobs stay fresh");
    assert!(last_scrape(&during, "dc2", "jobs") >= last_scrape(&before, "dc2", "jobs") + 4.0, "dc2 stays fresh");
    assert_eq!(during.get("nbu_up", &[("site", "dc1")]), Some(1.0), "the jobs endpoint answers");
    assert_eq!(during.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "jobs")]), Some(1.0));
    a.control("hold=0");
    wait_for(Duration::from_secs(10), "storage to collect again", || {
        (last_scrape(&exp.scrape(), "dc1", "storage") > last_scrape(&during, "dc1", "storage")).then_some(())
    });

    // 2. dc1 hangs completely: nbu_up 0 within collectionInterval + 10 s, long before the 60 s request timeout.
    let before = exp.scrape();
    a.control("hold=1&fail_paths=all");
    let took = until_up(&exp, "dc1", 0.0, Duration::from_secs(30));
    assert!(took <= INTERVAL + Duration::from_secs(10) + SLACK, "nbu_up 0 after {took:?}");
    let during = exp.scrape();
    assert_eq!(during.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "jobs")]), Some(0.0));
    assert_eq!(during.get("nbu_up", &[("site", "dc2")]), Some(1.0));
    assert!(last_scrape(&during, "dc2", "jobs") >= last_scrape(&before, "dc2", "jobs") + 8.0, "dc2 stays fresh");
    // The server recovers (the held requests are answered): back to 1 within one interval.
    a.control("hold=0");
    let took = until_up(&exp, "dc1", 1.0, Duration::from_secs(30));
    assert!(took <= INTERVAL + SLACK, "nbu_up 1 again after {took:?}");

    // 3. NetBackup's web service stops (connection refused): 0 at the next poll; back when it listens again.
    let port = a.port();
    drop(a);
    let took = until_up(&exp, "dc1", 0.0, Duration::from_secs(30));
    assert!(took <= INTERVAL + Duration::from_secs(10) + SLACK, "nbu_up 0 after {took:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(up(&exp, "dc1"), Some(0.0), "stays 0 while refused");
    let _a = Sim::start_at(&format!("127.0.0.1:{port}"), "10.4", &[]);
    let took = until_up(&exp, "dc1", 1.0, Duration::from_secs(30));
    // The first poll after the restart, or a retry of the failing one (backoff 0.5 s, 1 s, each ±50 %).
    assert!(took <= INTERVAL + Duration::from_millis(2250) + SLACK, "nbu_up 1 again after {took:?}");
    let m = exp.scrape();
    let refused =
        m.get("nbu_exporter_collection_errors_total", &[("site", "dc1"), ("source", "jobs"), ("kind", "transport")]);
    assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
    assert!(exp.log_text().contains("connection refused"));
    assert_eq!(m.get("nbu_up", &[("site", "dc2")]), Some(1.0));
}

#[test]
fn finished_job_counters_add_up_across_a_restart() {
    let sim = Sim::start("10.4", &["--jobs-per-hour", "7200"]);
    let cfg = config("  scrapingInterval: 1h\n  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]);
    let first = Exporter::start(&cfg);
    first.wait_ready();
    let first_since = first.counting_since();
    std::thread::sleep(Duration::from_secs(5));
    // Freeze the clock, let the first process see everything, and stop it.
    sim.control("freeze=1");
    first.wait_collections("dc1", "jobs", 2);
    let frozen_at = sim.truth()["nowMs"].as_i64().unwrap();
    let first_final = first.scrape().by_labels("nbu_jobs_finished_total", "dc1");
    drop(first);
    std::thread::sleep(Duration::from_millis(1500));

    let second = Exporter::start(&cfg);
    second.wait_ready();
    let second_since = second.counting_since();
    assert!(second_since > frozen_at);
    let at_start: f64 = second.scrape().by_labels("nbu_jobs_finished_total", "dc1").values().sum();
    assert_eq!(at_start, 0.0, "jobs that finished before the start are the baseline, not increments");
    sim.control("freeze=0");
    std::thread::sleep(Duration::from_secs(5));
    sim.control("freeze=1");
    second.wait_collections("dc1", "jobs", 2);
    let truth = sim.truth();
    let end = truth["nowMs"].as_i64().unwrap();
    let second_final = second.scrape().by_labels("nbu_jobs_finished_total", "dc1");

    let want_first = finished_between(&truth, first_since, frozen_at);
    let want_second = finished_between(&truth, second_since, end);
    let before_start: f64 = finished_between(&truth, 0, first_since - 1).values().sum();
    let (n1, n2): (f64, f64) = (want_first.values().sum(), want_second.values().sum());
    assert!(n1 > 0.0 && n2 > 0.0 && before_start > 0.0, "jobs finished in both lives and before: {n1} {n2}");
    assert_eq!(nonzero(first_final.clone()), want_first, "first life");
    assert_eq!(nonzero(second_final.clone()), want_second, "second life");
    let counted: f64 = first_final.values().chain(second_final.values()).sum();
    assert_eq!(counted, n1 + n2, "increments across both lives equal the jobs that finished while one ran");
}

/// Every `_bucket`, `_count` and `_sum` series of `nbu_job_duration_seconds`.
fn histogram_series(m: &Metrics) -> BTreeMap<String, f64> {
    m.samples
        .iter()
        .filter(|s| s.name.starts_with("nbu_job_duration_seconds_"))
        .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
        .collect()
}

#[test]
fn the_job_duration_histogram_never_decreases_while_jobs_leave_the_window() {
    let sim = Sim::start("10.4", &["--jobs-per-hour", "7200"]);
    // A 15 s window: finished jobs leave it within the test.
    let exp = Exporter::start(&config(
        "  scrapingInterval: 15s\n  collectionInterval: 1s\n",
        &[sim.site("dc1", "test-key", "")],
    ));
    exp.wait_ready();
    let mut previous = histogram_series(&exp.scrape());
    let (first_count, mut window_decreases, mut last_window) = (count_of(&exp.scrape()), 0, f64::NAN);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(1));
        let m = exp.scrape();
        let now = histogram_series(&m);
        for (series, v) in &previous {
            let current = now.get(series).copied();
            assert!(current.is_some_and(|c| c >= *v), "{series} went from {v} to {current:?}");
        }
        let finished: f64 = m.all("nbu_jobs_finished_total").iter().map(|s| s.value).sum();
        assert_eq!(count_of(&m), finished, "each counted job is observed once");
        let window: f64 = m.all("nbu_jobs_count").iter().map(|s| s.value).sum();
        if window < last_window {
            window_decreases += 1;
        }
        last_window = window;
        previous = now;
    }
    assert!(window_decreases > 0, "jobs must leave the window during the test");
    assert!(count_of(&exp.scrape()) > first_count, "jobs must finish during the test");
}

fn count_of(m: &Metrics) -> f64 {
    m.all("nbu_job_duration_seconds_count").iter().map(|s| s.value).sum()
}

#[test]
fn series_with_a_known_label_set_exist_at_zero_from_the_start() {
    let sim = Sim::start("10.4", &[]);
    sim.control("latency_ms=1500"); // the first scrape comes before the first collection
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    let m = wait_for(Duration::from_secs(1), "the site's first snapshot", || {
        let m = exp.scrape();
        m.get("nbu_up", &[("site", "dc1")]).is_some().then_some(m)
    });
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(0.0), "no answer yet");
    for source in ["jobs", "storage"] {
        assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", source)]), Some(0.0));
        assert_eq!(m.get("nbu_exporter_collection_duration_seconds_count", &[("source", source)]), Some(0.0));
        for kind in ["transport", "timeout", "unauthorized", "forbidden", "version", "http", "decode"] {
            let labels = [("site", "dc1"), ("source", source), ("kind", kind)];
            assert_eq!(m.get("nbu_exporter_collection_errors_total", &labels), Some(0.0), "{source} {kind}");
        }
    }
    for endpoint in ["/ping", "/admin/jobs", "/storage/storage-units"] {
        let labels = [("site", "dc1"), ("endpoint", endpoint), ("code", "error")];
        assert_eq!(m.get("nbu_exporter_api_requests_total", &labels), Some(0.0), "{endpoint}");
        assert!(m.get("nbu_exporter_api_request_duration_seconds_count", &[("endpoint", endpoint)]).is_some());
    }
    for trigger in ["signal", "file", "http"] {
        for result in ["success", "failure"] {
            let labels = [("trigger", trigger), ("result", result)];
            assert_eq!(m.get("nbu_exporter_config_reloads_total", &labels), Some(0.0));
        }
    }
    // A family without samples yet keeps its HELP and TYPE.
    assert!(m.text.contains("# TYPE nbu_jobs_count gauge\n") && m.all("nbu_jobs_count").is_empty(), "{}", m.text);
    // The build identity is the one --version prints.
    let version = std::process::Command::new(common::exporter_bin()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&version.stdout).to_string();
    let build = m.all("nbu_exporter_build_info");
    assert_eq!(build.len(), 1);
    let revision = &build[0].labels["revision"];
    assert!(text.contains(&format!("revision: {revision})")), "{text} vs {revision}");
    assert!(["branch", "rustc", "build_date", "version"].iter().all(|l| build[0].labels.contains_key(*l)));
    // After the first collections the site is up, and nothing failed.
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert!(m.all("nbu_exporter_collection_errors_total").iter().all(|s| s.value == 0.0));
}
