//! Sites against real simulators: isolation of dead and hung sites, auth failures, API version negotiation.

mod common;

use common::{config, wait_for, Exporter, Sim};
use std::time::{Duration, Instant};

const SERVER: &str = "  scrapingInterval: 1h\n  collectionInterval: 1s\n";

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn dead_and_hung_sites_do_not_delay_a_healthy_site() {
    let ok = Sim::start("10.4", &[]);
    let hung = Sim::start("10.4", &[]);
    hung.control("hang_ms=60000");
    let dead = format!(
        "  - site: dead\n    scheme: http\n    host: 127.0.0.1\n    port: {}\n    apiKey: k\n    connectTimeout: 1s\n",
        dead_port()
    );
    let hung_site = hung.site("hung", "test-key", "    requestTimeout: 2s\n");
    let exp = Exporter::start(&config(SERVER, &[ok.site("ok", "test-key", ""), dead, hung_site]));
    // The healthy site is up within seconds, long before the hung site's requests time out.
    let started = Instant::now();
    wait_for(Duration::from_secs(5), "the healthy site's first collection", || {
        (exp.scrape().get("nbu_up", &[("site", "ok")]) == Some(1.0)).then_some(())
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "dead")]), Some(0.0));
    assert_eq!(m.get("nbu_up", &[("site", "hung")]), Some(0.0));
    assert_eq!(m.get("nbu_last_scrape_timestamp_seconds", &[("site", "dead"), ("source", "jobs")]), None);
    // While the hung site keeps timing out, the healthy site keeps refreshing every second.
    exp.wait_collections("ok", "jobs", 3);
    let log = exp.log_text();
    assert!(log.contains("site dead: jobs collection failed") && log.contains("connection refused"), "{log}");
    assert!(log.contains("site hung: jobs collection failed") && log.contains("timed out"), "{log}");
    // The landing page shows each site's state and last error.
    let (_, _, page) = common::get(&exp.url("/"));
    assert!(page.contains("<td>ok</td>") && page.contains("<td>up</td>") && page.contains("<td>down</td>"), "{page}");
}

#[test]
fn a_failing_source_keeps_its_last_success_time_and_recovers() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let before = exp.scrape().get("nbu_last_scrape_timestamp_seconds", &[("source", "jobs")]).unwrap();
    sim.control("fail=503&fail_paths=jobs");
    // The collection's failure, not a retry's debug line: retries with backoff come first.
    wait_for(Duration::from_secs(10), "the failure to be logged", || {
        let log = exp.log_text();
        log.lines()
            .any(|l| l.contains("site dc1: jobs collection failed") && l.contains("HTTP 503 errorCode 503"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let m = exp.scrape();
    // Only jobs fails: its success gauge is 0, storage's stays 1; the jobs timestamp stays at its last success, it
    // never vanishes. NetBackup answered well within the liveness window (1 s + 10 s): the site is still up.
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "jobs")]), Some(0.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "storage")]), Some(1.0));
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    let during = m.get("nbu_last_scrape_timestamp_seconds", &[("source", "jobs")]).unwrap();
    assert!(during >= before && during < before + 3.0, "{before} → {during}");
    assert!(!m.all("nbu_jobs_state_count").is_empty(), "the last good job data stays");
    sim.control("fail=0");
    exp.wait_collections("dc1", "jobs", 1);
    wait_for(Duration::from_secs(5), "the recovery to be logged", || {
        exp.log_text().contains("site dc1: jobs collection recovered").then_some(())
    });
    assert_eq!(exp.scrape().get("nbu_scrape_collector_success", &[("source", "jobs")]), Some(1.0));
}

#[test]
fn a_wrong_api_key_gives_nbu_up_0_and_says_what_to_check() {
    let sim = Sim::start("10.4", &[]);
    let secret = "wrong-key-5f1d2c9a";
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", secret, "")]));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(0.0));
    let log = exp.log_text();
    assert!(log.contains("401 unauthorized"), "{log}");
    assert!(log.contains("check that apiKey is valid and not expired") && log.contains("RBAC"), "{log}");
    assert!(!log.contains(secret), "the API key must never be logged");
    // The harness's drop check (run for every exporter of every test) knows this key.
    assert!(exp.secrets.iter().any(|s| s == secret), "{:?}", exp.secrets);
    assert!(!common::get(&exp.url("/")).2.contains(secret));
    // A 401 is never retried: one request per source in the first cycle.
    let sources = m.all("nbu_scrape_collector_success").len() as u64;
    assert!(sources >= 7, "jobs, storage units, disk pools, storage and media servers, SLPs, services: {sources}");
    assert_eq!(sim.stats().get("unauthorized").copied(), Some(sources), "{:?}", sim.stats());
    assert!(log.contains("the jobs collector needs the RBAC permission |MANAGE|JOBS| View"), "{log}");
    // Version detection stopped at the 401: no climb down the 406 ladder with a bad key.
    assert!(!sim.stats().contains_key("not_acceptable"));
}

#[test]
fn api_version_negotiation_against_each_release() {
    for (release, version, ladder) in
        [("8.3", "4.0", 10u64), ("10.4", "11.0", 0), ("10.5", "12.0", 0), ("11.2", "14.0", 0)]
    {
        let sim = Sim::start(release, &["--jobs-per-hour", "600", "--old-jobs", "100"]);
        let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
        exp.wait_ready();
        sim.control("freeze=1");
        exp.wait_collections("dc1", "jobs", 2);
        let m = exp.scrape();
        assert_eq!(m.get("nbu_api_version", &[("site", "dc1"), ("version", version)]), Some(1.0), "{release}");
        assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0), "{release}");
        // Every job in the window reached the store, whichever paging style the release uses.
        let truth = sim.truth();
        let now = truth["nowMs"].as_i64().unwrap();
        let in_window = truth["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] != "DONE" || j["endTimeMs"].as_i64().unwrap() >= now - 3_600_000)
            .count();
        assert_eq!(m.get("nbu_exporter_jobs_in_store", &[("site", "dc1")]), Some(in_window as f64), "{release}");
        let stats = sim.stats();
        assert_eq!(stats.get("not_acceptable").copied().unwrap_or(0), ladder, "{release}: 406 ladder steps {stats:?}");
        if release == "8.3" {
            // No /ping and no lastUpdateTime on 8.3: the ladder found 4.0 and every poll is a full offset walk.
            assert!(exp.log_text().contains("full poll fetched"));
            assert!(!exp.log_text().contains("incremental poll"));
        } else {
            assert!(exp.log_text().contains("incremental poll fetched"), "{release}");
        }
    }
}

#[test]
fn a_configured_api_version_is_used_without_detection() {
    let sim = Sim::start("10.5", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "    apiVersion: \"11.0\"\n")]));
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_api_version", &[("version", "11.0")]), Some(1.0));
    assert!(!sim.stats().contains_key("ping"), "no detection when apiVersion is configured");
}

#[test]
fn transient_failures_are_retried_with_backoff_but_4xx_are_not() {
    // Two 503s on storage, then success: collected in the first cycle, nothing logged as failed.
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=503&fail_count=2&fail_paths=storage");
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    assert!(!exp.scrape().all("nbu_storage_info").is_empty(), "storage collected after retries");
    let stats = sim.stats();
    assert_eq!((stats["injected_failures"], stats["storage"]), (2, 3), "{stats:?}");
    assert!(!exp.log_text().contains("storage collection failed"), "{}", exp.log_text());
    drop(exp);

    // 429 with Retry-After: 2 is waited out before the retry.
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=429&fail_count=1&retry_after=2&fail_paths=jobs");
    let started = Instant::now();
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    assert!(started.elapsed() >= Duration::from_secs(2), "Retry-After ignored: ready after {:?}", started.elapsed());
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert!(exp.log_text().contains("HTTP 429") && exp.log_text().contains("retrying in 2.0s"), "{}", exp.log_text());
    drop(exp);

    // A 400 is not transient: exactly one request, and the failure is reported.
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=400&fail_paths=storage");
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    assert_eq!(sim.stats()["storage"], 1);
    assert!(exp.log_text().contains("storage collection failed: GET /storage/storage-units: HTTP 400"));
}

#[test]
fn self_metrics_count_requests_errors_and_durations() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 2);
    sim.control("fail=500&fail_paths=jobs");
    wait_for(Duration::from_secs(15), "a counted collection error", || {
        let m = exp.scrape();
        m.get("nbu_exporter_collection_errors_total", &[("site", "dc1"), ("source", "jobs"), ("kind", "http")])
            .filter(|n| *n >= 1.0)
            .map(|_| m)
    });
    let m = exp.scrape();
    let req = |endpoint: &str, code: &str| {
        m.get("nbu_exporter_api_requests_total", &[("site", "dc1"), ("endpoint", endpoint), ("code", code)])
            .unwrap_or(0.0)
    };
    // The exporter's own count of requests matches what the simulator saw, per endpoint.
    let stats = sim.stats();
    let jobs_total: f64 = m
        .all("nbu_exporter_api_requests_total")
        .iter()
        .filter(|s| s.labels["endpoint"] == "/admin/jobs")
        .map(|s| s.value)
        .sum();
    assert!(req("/admin/jobs", "200") >= 3.0 && req("/admin/jobs", "500") >= 3.0, "{}", m.text);
    assert!((jobs_total - stats["jobs"] as f64).abs() <= 3.0, "exporter {jobs_total} vs simulator {}", stats["jobs"]);
    assert_eq!(req("/storage/storage-units", "200"), 1.0);
    assert_eq!(req("/ping", "200"), 1.0);
    // Endpoints are path templates: no query strings or hosts in labels.
    assert!(m
        .all("nbu_exporter_api_requests_total")
        .iter()
        .all(|s| s.labels["endpoint"].starts_with('/') && !s.labels["endpoint"].contains('?')));
    assert!(m
        .get("nbu_exporter_api_request_duration_seconds_count", &[("endpoint", "/admin/jobs")])
        .is_some_and(|n| n >= 6.0));
    assert!(m.get("nbu_exporter_collection_duration_seconds_count", &[("source", "storage")]) == Some(1.0));
    // process_* metrics of the exporter itself.
    assert!(m.get("process_resident_memory_bytes", &[]).is_some_and(|v| v > 1e6), "{}", m.text);
    assert!(m.get("process_open_fds", &[]).is_some_and(|v| v >= 3.0));
    assert!(m.get("process_start_time_seconds", &[]).is_some_and(|v| v > 1.7e9));
    assert!(m.get("process_cpu_seconds_total", &[]).is_some());
}

#[test]
fn a_malformed_page_keeps_the_last_good_data_and_tells_the_truth() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    sim.control("freeze=1");
    exp.wait_collections("dc1", "jobs", 2);
    let good = exp.scrape();
    let before = good.get("nbu_last_scrape_timestamp_seconds", &[("source", "jobs")]).unwrap();
    sim.control("garbage=1&fail_paths=jobs");
    wait_for(Duration::from_secs(10), "the decode error", || {
        exp.log_text().contains("jobs collection failed: GET /admin/jobs: unexpected response body").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    let m = exp.scrape();
    assert_eq!(m.get("nbu_last_scrape_timestamp_seconds", &[("source", "jobs")]), Some(before), "no success claimed");
    assert_eq!(
        m.get("nbu_exporter_collection_errors_total", &[("source", "jobs"), ("kind", "decode")]).map(|n| n >= 1.0),
        Some(true)
    );
    for family in ["nbu_jobs_count", "nbu_jobs_state_count", "nbu_jobs_finished_total", "nbu_exporter_jobs_in_store"] {
        assert_eq!(m.by_labels(family, "dc1"), good.by_labels(family, "dc1"), "{family} changed after a bad page");
    }
    sim.control("garbage=0");
    exp.wait_collections("dc1", "jobs", 1);
}

#[test]
fn an_empty_job_list_is_reported_once_as_a_probable_permission_problem() {
    let sim = Sim::start("10.4", &[]);
    sim.control("no_rbac=1");
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let log = exp.log_text();
    assert_eq!(log.matches("probably lacks the view permission on jobs").count(), 1, "{log}");
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0), "a 200 is not an outage");
}

#[test]
fn response_size_cap_and_collection_deadline() {
    // Pages of 500 storage units are far over 64 KiB: rejected with a message naming the setting.
    let sim = Sim::start("10.4", &["--extra-storage-units", "1200", "--jobs-per-hour", "60", "--old-jobs", "5"]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "    maxResponseSize: 64KiB\n")]));
    exp.wait_ready();
    let log = exp.log_text();
    assert!(log.contains("storage collection failed: GET /storage/storage-units: unexpected response body: body larger than maxResponseSize"), "{log}");
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0), "small job pages still pass");
    drop(exp);
    // A slow server and many pages: the collection gives up at its deadline instead of running on.
    let sim = Sim::start("10.4", &[]);
    sim.control("latency_ms=400");
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "    collectionTimeout: 1s\n")]));
    let t = Instant::now();
    exp.wait_ready();
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let log = exp.log_text();
    assert!(log.contains("jobs collection failed: GET /admin/jobs: collection deadline of 1s passed after"), "{log}");
    let m = exp.scrape();
    let timeouts = m.get("nbu_exporter_collection_errors_total", &[("source", "jobs"), ("kind", "timeout")]);
    assert!(timeouts.is_some_and(|n| n >= 1.0), "{timeouts:?}");
}

#[test]
fn username_login_renews_tokens_and_recovers_from_revocation() {
    let sim = Sim::start("10.4", &["--login", "nbuadmin:Pa55-w0rd-9x7", "--token-validity", "2"]);
    let site = format!(
        "  - site: dc1\n    scheme: http\n    host: 127.0.0.1\n    port: {}\n    username: nbuadmin\n    password: \"${{NBU_PASSWORD}}\"\n    domain: nbu\n    domainType: vx\n",
        sim.port()
    );
    let exp =
        Exporter::start_with(&config(SERVER, std::slice::from_ref(&site)), &[], &[("NBU_PASSWORD", "Pa55-w0rd-9x7")]);
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0), "{}", exp.log_text());
    // Tokens live 2 s: collecting for 5 s needs renewals, none of them visible as failures.
    exp.wait_collections("dc1", "jobs", 5);
    let stats = sim.stats();
    assert!(stats["login"] >= 2, "{stats:?}");
    assert!(!stats.contains_key("login_failed"));
    // Renewed ahead of expiry: no request ever went out with an expired token.
    assert!(!stats.contains_key("unauthorized"), "a token was used past its validity: {stats:?}");
    // A token revoked early: the 401 triggers one new login and the request is repeated.
    sim.control("revoke_tokens=1");
    exp.wait_collections("dc1", "jobs", 2);
    let log = exp.log_text();
    assert!(!log.contains("collection failed"), "{log}");
    assert!(!log.contains("Pa55-w0rd-9x7") && !log.contains("eyJ.sim"), "password or token logged");
    let m = exp.scrape();
    assert!(m
        .get("nbu_exporter_api_requests_total", &[("endpoint", "/login"), ("code", "201")])
        .is_some_and(|n| n >= 3.0));
    drop(exp);

    // A wrong password: nbu_up 0 and a log line that says what to check.
    let exp = Exporter::start_with(&config(SERVER, &[site]), &[], &[("NBU_PASSWORD", "wrong-password")]);
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(0.0));
    assert!(exp.log_text().contains("login refused; check username/password"), "{}", exp.log_text());
    drop(exp);

    // The API-key login form.
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc2", "test-key", "    apiKeyLogin: true\n")]));
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc2")]), Some(1.0), "{}", exp.log_text());
}
