//! Exactly-once job counting against the simulator on API 4.0 (offset paging, a full load every poll), 9.0 (cursor
//! paging, full loads) and 12.0 (incremental polls): empty answers, short pages and an outage longer than the job
//! window, with every counter equal to the simulator's ground truth; and an empty first load that is not taken as
//! the baseline.

mod common;

use common::{config, expected, finished_between, nonzero, wait_for, Exporter, Sim};
use std::time::Duration;

/// `scrapingInterval` = the job window: shorter than the outage below.
const WINDOW: Duration = Duration::from_secs(5);
const OUTAGE: Duration = Duration::from_secs(12);

fn stat(sim: &Sim, key: &str) -> u64 {
    sim.stats().get(key).copied().unwrap_or(0)
}

fn jobs_ok(exp: &Exporter) -> bool {
    exp.scrape().get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "jobs")]) == Some(1.0)
}

/// Freezes the simulator's clock, lets the exporter see the final state, and compares every finished-job counter
/// with the jobs that really finished since the exporter's start.
fn assert_counted_exactly(sim: &Sim, exp: &Exporter, since: i64, what: &str) {
    sim.control("freeze=1");
    exp.wait_collections("dc1", "jobs", 3);
    let truth = sim.truth();
    let now = truth["nowMs"].as_i64().unwrap();
    let want = finished_between(&truth, since, now);
    let got = nonzero(exp.scrape().by_labels("nbu_jobs_finished_total", "dc1"));
    let n: f64 = want.values().sum();
    assert!(n >= 20.0, "{what}: enough jobs finished to mean something: {n}");
    assert_eq!(got, want, "{what}: nbu_jobs_finished_total against the truth ({n} jobs)");
    let hist: f64 = exp.scrape().all("nbu_job_duration_seconds_count").iter().map(|s| s.value).sum();
    assert_eq!(hist, n, "{what}: the duration histogram observed each job once");
}

fn faults_then_exact_counts(release: &str) {
    let sim = Sim::start(release, &["--jobs-per-hour", "7200", "--old-jobs", "200"]);
    let server = format!("  scrapingInterval: {}s\n  collectionInterval: 1s\n", WINDOW.as_secs());
    let exp = Exporter::start(&config(&server, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let since = exp.counting_since();
    exp.wait_collections("dc1", "jobs", 2);

    // 1. Answers with `data: []` (as NetBackup sends them without RBAC or on a bad day).
    sim.control("empty=3");
    wait_for(Duration::from_secs(20), "three empty answers", || (stat(&sim, "empty_answers") >= 3).then_some(()));
    exp.wait_collections("dc1", "jobs", 2);
    // 2. Pages that hold half their items: jobs missing from an answer come back in the next.
    sim.control("short_pages=6");
    wait_for(Duration::from_secs(20), "six short pages", || (stat(&sim, "short_pages") >= 6).then_some(()));
    exp.wait_collections("dc1", "jobs", 2);
    // 3. NetBackup's jobs endpoint fails for longer than the window: jobs that finish meanwhile count on recovery.
    sim.control("fail=503&fail_paths=jobs");
    wait_for(Duration::from_secs(10), "the jobs source to fail", || (!jobs_ok(&exp)).then_some(()));
    std::thread::sleep(OUTAGE);
    sim.control("fail=0");
    wait_for(Duration::from_secs(20), "the jobs source to recover", || jobs_ok(&exp).then_some(()));
    exp.wait_collections("dc1", "jobs", 2);
    assert_counted_exactly(&sim, &exp, since, release);
    assert!(stat(&sim, "injected_failures") >= 5, "the outage was seen: {:?}", sim.stats());
    assert!(!exp.log_text().contains("catchUpHorizon"), "the outage is within the horizon");
}

#[test]
fn exact_counts_through_faults_on_api_4_offset_paging() {
    faults_then_exact_counts("8.3");
}

#[test]
fn exact_counts_through_faults_on_api_9_cursor_paging() {
    faults_then_exact_counts("10.1.1");
}

#[test]
fn exact_counts_through_faults_on_api_12_incremental() {
    faults_then_exact_counts("10.5");
}

/// The first load answers `data: []` (the API key's role lacks the jobs permission until the admin fixes it): it is
/// retried as a full load, not taken as the baseline, so the window gauges cover every job once NetBackup lists
/// them.
fn empty_first_load_is_retried(release: &str) {
    let sim = Sim::start(release, &["--jobs-per-hour", "3600"]);
    sim.control("no_rbac=1");
    let exp = Exporter::start(&config(
        "  scrapingInterval: 1h\n  collectionInterval: 1s\n",
        &[sim.site("dc1", "test-key", "")],
    ));
    exp.wait_ready();
    let since = exp.counting_since();
    wait_for(Duration::from_secs(20), "the empty first load", || {
        exp.log_text().contains("NetBackup returned no jobs at all").then_some(())
    });
    sim.control("no_rbac=0");
    exp.wait_collections("dc1", "jobs", 2);
    sim.control("freeze=1");
    exp.wait_collections("dc1", "jobs", 2);
    let truth = sim.truth();
    let want = expected(&truth, 3_600_000, since);
    let m = exp.scrape();
    assert!(want.count.values().sum::<f64>() >= 20.0, "jobs finished in the window before the start");
    assert_eq!(m.by_labels("nbu_jobs_count", "dc1"), want.count, "{release}: window counts after an empty first load");
    assert_eq!(m.by_labels("nbu_jobs_state_count", "dc1"), want.state, "{release}: states");
}

#[test]
fn an_empty_first_load_is_retried_on_api_12() {
    empty_first_load_is_retried("10.5");
}

#[test]
fn an_empty_first_load_is_retried_on_api_4() {
    empty_first_load_is_retried("8.3");
}
