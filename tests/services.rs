//! NetBackup services against the simulator: every service of every server host, a host that cannot be reached, a
//! service stopping within one TTL, bounded request labels, and refusals confined to the source.

mod common;

use common::{config, wait_for, Exporter, Metrics, Sim};
use serde_json::Value;
use std::time::Duration;

const STATUSES: [&str; 3] = ["RUNNING", "STOPPED", "DISABLED"];

/// The simulator's server hosts and what their services answer is (`/_sim/services`).
fn truth(sim: &Sim) -> Vec<Value> {
    let (status, _, body) = common::get(&format!("http://{}/_sim/services", sim.addr));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    v["hosts"].as_array().unwrap().clone()
}

fn check(m: &Metrics, hosts: &[Value]) {
    assert_eq!(m.all("nbu_service_host_success").len(), hosts.len());
    let mut services = 0;
    for h in hosts {
        let host = h["hostName"].as_str().unwrap();
        let ok = h["status"] == 200;
        assert_eq!(m.get("nbu_service_host_success", &[("host", host)]), Some(f64::from(ok)), "{host}");
        if !ok {
            assert!(m.all("nbu_service_status").iter().all(|s| s.labels["host"] != host), "{host}: no stale series");
            continue;
        }
        for svc in h["answer"]["data"].as_array().unwrap() {
            let (name, status) = (svc["id"].as_str().unwrap(), svc["attributes"]["status"].as_str().unwrap());
            for st in STATUSES {
                let got = m.get("nbu_service_status", &[("host", host), ("service", name), ("status", st)]);
                assert_eq!(got, Some(f64::from(st == status)), "{host} {name} {st}");
            }
            services += 1;
        }
    }
    assert_eq!(m.all("nbu_service_status").len(), services * STATUSES.len());
}

#[test]
fn every_service_of_every_server_host_as_netbackup_reports_it() {
    let sim = Sim::start("10.4", &["--extra-servers", "20"]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let hosts = truth(&sim);
    assert_eq!(hosts.len(), 27, "the primary and 26 media servers");
    let m = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "services")]), Some(1.0));
    check(&m, &hosts);
    // What an admin alerts on: a stopped daemon, and a media server whose services cannot be read.
    let stopped = [("host", "nbu-media02.example.com"), ("service", "nbrmms"), ("status", "STOPPED")];
    assert_eq!(m.get("nbu_service_status", &stopped), Some(1.0));
    assert_eq!(m.get("nbu_service_host_success", &[("host", "nbu-media04.example.com")]), Some(0.0));
    // Two host queries (primary, media servers) and one services request per host (the unreachable host's 500 is
    // retried twice, as every 5xx), counted under one endpoint.
    let stats = sim.stats();
    assert_eq!((stats.get("hosts").copied(), stats.get("services").copied()), (Some(2), Some(27 + 2)), "{stats:?}");
    let endpoints: Vec<String> =
        m.all("nbu_exporter_api_requests_total").iter().map(|s| s.labels["endpoint"].clone()).collect();
    assert!(endpoints.iter().any(|e| e == "/admin/hosts/{hostId}/services"), "{endpoints:?}");
    assert!(endpoints.iter().all(|e| !e.contains("uuid-") && !e.contains("sim-0001")), "{endpoints:?}");
}

#[test]
fn a_service_stopping_shows_within_one_ttl() {
    let sim = Sim::start("10.5", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 2s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let spad = |m: &Metrics, st: &str| {
        m.get("nbu_service_status", &[("host", "nbu-media01.example.com"), ("service", "spad"), ("status", st)])
    };
    assert_eq!(spad(&exp.scrape(), "RUNNING"), Some(1.0));
    sim.control("service_state=nbu-media01.example.com/spad:STOPPED");
    let started = std::time::Instant::now();
    let m = wait_for(Duration::from_secs(10), "spad STOPPED", || {
        let m = exp.scrape();
        (spad(&m, "STOPPED") == Some(1.0)).then_some(m)
    });
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(spad(&m, "RUNNING"), Some(0.0));
    check(&m, &truth(&sim));
}

#[test]
fn refusals_are_confined_to_the_source() {
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=403&fail_paths=services");
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    let ok = |m: &Metrics, src: &str| m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", src)]);
    assert_eq!((ok(&m, "services"), ok(&m, "jobs"), ok(&m, "media_servers")), (Some(0.0), Some(1.0), Some(1.0)));
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert!(exp.log_text().contains("|MANAGE|HOSTS|PROCESSES| View"), "{}", exp.log_text());

    let old = Sim::start("8.3", &[]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[old.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let err = [("site", "dc1"), ("source", "services"), ("kind", "unsupported")];
    assert_eq!(exp.scrape().get("nbu_exporter_collection_errors_total", &err), Some(1.0));
}

#[test]
fn a_primary_that_stops_mid_collection_is_down_not_a_host_failure() {
    // The services of one host are being read (held) when NetBackup's web service stops: that is the site going
    // down (nbu_up 0, the source failed), not one unreachable host while the rest of the site looks fine.
    let sim = Sim::start("10.4", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    sim.control("hold=1&fail_paths=services");
    wait_for(Duration::from_secs(10), "a held services request", || {
        (sim.stats().get("held") >= Some(&1)).then_some(())
    });
    drop(sim);
    let up = |exp: &Exporter| exp.scrape().get("nbu_up", &[("site", "dc1")]);
    wait_for(Duration::from_secs(30), "nbu_up 0", || (up(&exp) == Some(0.0)).then_some(()));
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(up(&exp), Some(0.0), "stays 0 while NetBackup is gone");
    }
    let ok = exp.scrape().get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "services")]);
    assert_eq!(ok, Some(0.0), "the services collection failed with the site");
}
