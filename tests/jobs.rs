//! Job metrics against the simulator's ground truth: window gauges, state counts, and exactly-once counters.

mod common;

use common::{config, expected, wait_for, Expected, Exporter, Metrics, Sim};
use serde_json::Value;
use std::time::Duration;

fn assert_matches(m: &Metrics, site: &str, e: &Expected) {
    assert!(!e.count.is_empty() && !e.queued.is_empty(), "the simulator must produce finished and queued jobs");
    assert_eq!(m.by_labels("nbu_jobs_count", site), e.count, "nbu_jobs_count");
    assert_eq!(m.by_labels("nbu_jobs_bytes", site), e.bytes, "nbu_jobs_bytes");
    assert_eq!(m.by_labels("nbu_status_count", site), e.status, "nbu_status_count");
    assert_eq!(m.by_labels("nbu_jobs_files_count", site), e.files, "nbu_jobs_files_count");
    assert_eq!(m.by_labels("nbu_jobs_state_count", site), e.state, "nbu_jobs_state_count");
    assert_eq!(m.by_labels("nbu_jobs_queued_count", site), e.queued, "nbu_jobs_queued_count");
}

const SERVER: &str = "  scrapingInterval: 1h\n  collectionInterval: 1s\n";
const HOUR_MS: i64 = 3_600_000;

/// Freezes the simulator's clock and waits until the exporter has polled twice since.
fn freeze_and_settle(sim: &Sim, exp: &Exporter, site: &str) -> Value {
    sim.control("freeze=1");
    exp.wait_collections(site, "jobs", 2);
    sim.truth()
}

#[test]
fn job_metrics_equal_simulator_truth_for_the_window() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let truth = freeze_and_settle(&sim, &exp, "dc1");
    let m = exp.scrape();
    let e = expected(&truth, HOUR_MS, exp.counting_since());
    assert_matches(&m, "dc1", &e);
    // Unfinished jobs (including ones stuck for hours, outside the window) are in the state counts...
    assert!(e.state.keys().any(
        |k| k.contains(&("state".into(), "INCOMPLETE".into())) || k.contains(&("state".into(), "SUSPENDED".into()))
    ));
    assert!(e.state.keys().any(|k| k.contains(&("state".into(), "ACTIVE".into()))));
    // ...and a running job's missing status is never read as 0.
    assert!(m.all("nbu_jobs_count").iter().all(|s| s.labels["status"] != "unknown"));
    // Counters and the duration histogram hold the jobs that finished since the exporter started, each once;
    // jobs that had finished before are the baseline (their label sets at 0).
    assert_eq!(m.by_labels("nbu_jobs_finished_total", "dc1"), e.finished);
    assert_eq!(m.by_labels("nbu_jobs_transferred_bytes_total", "dc1"), e.finished_bytes);
    let hist_count: f64 = m.all("nbu_job_duration_seconds_count").iter().map(|s| s.value).sum();
    assert_eq!(hist_count, e.finished.values().sum::<f64>());
    assert!(e.count.values().sum::<f64>() > e.finished.values().sum::<f64>(), "the window holds baseline jobs");
}

#[test]
fn counters_never_decrease_and_never_double_count_while_jobs_progress() {
    let sim = Sim::start("10.4", &["--jobs-per-hour", "7200"]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let mut previous = exp.scrape().by_labels("nbu_jobs_finished_total", "dc1");
    let first_total: f64 = previous.values().sum();
    for _ in 0..6 {
        exp.wait_collections("dc1", "jobs", 1);
        let now = exp.scrape().by_labels("nbu_jobs_finished_total", "dc1");
        for (labels, v) in &previous {
            let current = now.get(labels).copied();
            assert!(current.is_some_and(|c| c >= *v), "{labels:?} went from {v} to {current:?}");
        }
        previous = now;
    }
    let last_total: f64 = previous.values().sum();
    assert!(last_total > first_total, "jobs must have finished during the test ({first_total} → {last_total})");
    let truth = freeze_and_settle(&sim, &exp, "dc1");
    let m = exp.scrape();
    let e = expected(&truth, HOUR_MS, exp.counting_since());
    assert_eq!(m.by_labels("nbu_jobs_finished_total", "dc1"), e.finished, "every finished job counted exactly once");
    assert_eq!(m.by_labels("nbu_jobs_transferred_bytes_total", "dc1"), e.finished_bytes);
    // Incremental polling: after the first load, polls fetch only changed jobs, not the whole window.
    let polls = sim.stats()["jobs"];
    let jobs_in_window = truth["jobs"].as_array().unwrap().len() as u64;
    assert!(polls < 10 * (jobs_in_window / 100 + 1), "{polls} job requests for {jobs_in_window} jobs: not incremental");
}

#[test]
fn storage_series_skip_units_without_capacity_and_page_through_all_units() {
    let sim = Sim::start("10.4", &["--extra-storage-units", "1200"]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let m = wait_for(Duration::from_secs(10), "storage series", || {
        let m = exp.scrape();
        (!m.all("nbu_storage_info").is_empty()).then_some(m)
    });
    // 5 built-in units + 1200 extra need three pages of 500: all must be there.
    assert_eq!(m.all("nbu_storage_info").len(), 1205);
    assert!(sim.stats()["storage"] >= 3);
    let info = |name: &str| m.get("nbu_disk_bytes", &[("name", name), ("size", "free")]);
    assert!(info("stu_msdp_01").is_some_and(|v| v > 0.0));
    assert_eq!(info("stu_tape_lto8"), None, "tape units have no capacity series");
    assert_eq!(info("stu_cloud_s3"), None, "cloud units report no capacity: no made-up 0");
    assert_eq!(m.get("nbu_disk_capacity_bytes", &[("name", "stu_cloud_s3")]), None);
    assert_eq!(m.get("nbu_storage_max_fragment_size_bytes", &[("name", "stu_msdp_01")]), Some(51200.0 * 1048576.0));
    assert_eq!(m.get("nbu_storage_info", &[("name", "stu_cloud_s3"), ("is_cloud", "true")]), Some(1.0));
    assert!(m.text.contains("# HELP nbu_disk_bytes Storage unit free and used bytes (cached: 5m TTL)"));
}

/// A full load gives the same store however it is fetched: one cursor walk (`concurrency: 1`), time slices walked
/// in parallel (cursor, `concurrency: 8`), or offset pages fetched in parallel (NetBackup 8.3).
#[test]
fn full_load_is_the_same_sequential_sliced_or_by_parallel_pages() {
    for (release, concurrency) in [("10.4", 1), ("10.4", 8), ("8.3", 4)] {
        let sim = Sim::start(release, &["--jobs-per-hour", "6000", "--old-jobs", "3000"]);
        sim.control("freeze=1"); // the first (full) load sees exactly the truth
                                 // The exporter starts a second later: no job ends in its start second, which would count.
        std::thread::sleep(Duration::from_millis(1100));
        let extra = format!("    concurrency: {concurrency}\n");
        let exp = Exporter::start(&config(
            "  scrapingInterval: 6h\n  collectionInterval: 1h\n",
            &[sim.site("dc1", "test-key", &extra)],
        ));
        exp.wait_ready();
        let truth = sim.truth();
        let e = expected(&truth, 6 * HOUR_MS, exp.counting_since());
        let m = exp.scrape();
        let what = format!("{release} with concurrency {concurrency}");
        assert_eq!(m.by_labels("nbu_jobs_count", "dc1"), e.count, "{what}");
        assert_eq!(m.by_labels("nbu_jobs_state_count", "dc1"), e.state, "{what}");
        // Every job had finished before the exporter started (the clock is frozen): all baseline, all 0.
        assert_eq!(m.by_labels("nbu_jobs_finished_total", "dc1"), e.finished, "{what}: the baseline");
        assert!(e.finished.values().all(|v| *v == 0.0) && !e.finished.is_empty(), "{what}");
        let requests = sim.stats()["jobs"];
        let pages = truth["jobs"].as_array().unwrap().len() as u64 / 100 + 1;
        if concurrency == 1 {
            assert!(requests <= pages + 1, "{what}: {requests} requests for {pages} pages");
        } else {
            assert!(requests <= pages + 65, "{what}: {requests} requests for {pages} pages");
        }
    }
}
