//! Disk pools against the simulator: every page read, every series as NetBackup reports it, and a 404 or 403 on
//! the endpoint confined to its own source.

mod common;

use common::{config, Exporter, Metrics, Sim};
use serde_json::Value;
use std::time::Duration;

/// Every disk pool the simulator serves, read page by page over its own API (100 per page: not the exporter's
/// page size).
fn sim_pools(sim: &Sim) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut pools = Vec::new();
    loop {
        let url =
            format!("http://{}/netbackup/storage/disk-pools?page[limit]=100&page[offset]={}", sim.addr, pools.len());
        let mut resp = agent
            .get(&url)
            .header("Authorization", "test-key")
            .header("Accept", "application/vnd.netbackup+json;version=11.0")
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let page: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        let data = page["data"].as_array().unwrap();
        pools.extend(data.iter().map(|d| d["attributes"].clone()));
        if data.is_empty() || page["meta"]["pagination"]["next"].is_null() {
            return pools;
        }
    }
}

fn pool_labels(p: &Value) -> [(&'static str, &str); 3] {
    [
        ("site", "dc1"),
        ("pool_name", p["name"].as_str().unwrap()),
        ("storage_category", p["storageCategory"].as_str().unwrap()),
    ]
}

fn with<'a>(base: &[(&'static str, &'a str)], k: &'static str, v: &'a str) -> Vec<(&'static str, &'a str)> {
    base.iter().copied().chain([(k, v)]).collect()
}

#[test]
fn every_disk_pool_on_every_page_as_netbackup_reports_it() {
    // 604 pools: two pages of the exporter's 500.
    let sim = Sim::start("10.4", &["--extra-storage-units", "600"]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let pools = sim_pools(&sim);
    assert_eq!(pools.len(), 604);
    let m: Metrics = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "disk_pools")]), Some(1.0));
    assert_eq!(m.all("nbu_disk_pool_usable_bytes").len(), 604);
    for p in &pools {
        let base = pool_labels(p);
        let name = base[1].1;
        // Volume counts per state, each documented state present at 0.
        for state in ["UP", "DOWN", "UNKNOWN"] {
            let want = p["diskVolumes"].as_array().unwrap().iter().filter(|v| v["state"] == state).count() as f64;
            assert_eq!(m.get("nbu_disk_pool_volume_count", &with(&base, "state", state)), Some(want), "{name} {state}");
        }
        for state in ["UP", "DOWN", "TRANSIENT"] {
            let want = if p["diskPoolState"] == state { 1.0 } else { 0.0 };
            assert_eq!(m.get("nbu_disk_pool_state", &with(&base, "state", state)), Some(want), "{name} {state}");
        }
        let bytes = |k: &str| p[k].as_f64();
        // The used space grows with the simulator's clock: the scrape is a few seconds older than the walk.
        let close = |got: Option<f64>, want: Option<f64>| match (got, want) {
            (Some(g), Some(w)) => (g - w).abs() <= 64.0 * 1_048_576.0,
            (g, w) => g == w,
        };
        assert_eq!(m.get("nbu_disk_pool_usable_bytes", &base), bytes("usableSizeBytes"), "{name}");
        assert_eq!(m.get("nbu_disk_pool_raw_bytes", &base), bytes("rawSizeBytes"), "{name}");
        assert!(close(m.get("nbu_disk_pool_used_bytes", &base), bytes("usedCapacityBytes")), "{name}");
        assert!(close(m.get("nbu_disk_pool_available_bytes", &base), bytes("availableSpaceBytes")), "{name}");
        let ratio = m.get("nbu_disk_pool_used_ratio", &base).unwrap();
        let want = bytes("usedCapacityBytes").unwrap() / bytes("usableSizeBytes").unwrap();
        assert!((ratio - want).abs() < 0.01, "{name}: {ratio} vs {want}");
        assert_eq!(m.get("nbu_disk_pool_high_water_mark_ratio", &base), Some(0.98));
        assert_eq!(m.get("nbu_disk_pool_low_water_mark_ratio", &base), Some(0.80));
        let read_only = if p["readOnly"] == true { 1.0 } else { 0.0 };
        assert_eq!(m.get("nbu_disk_pool_read_only", &base), Some(read_only), "{name}");
        for v in p["diskVolumes"].as_array().unwrap() {
            let labels = [("site", "dc1"), ("pool_name", name), ("volume", v["name"].as_str().unwrap())];
            let up = if v["state"] == "UP" { 1.0 } else { 0.0 };
            assert_eq!(m.get("nbu_disk_volume_up", &labels), Some(up), "{labels:?}");
            assert_eq!(m.get("nbu_disk_volume_free_bytes", &labels), v["freeSizeBytes"].as_f64(), "{labels:?}");
            assert_eq!(m.get("nbu_disk_volume_raw_bytes", &labels), v["rawSizeBytes"].as_f64(), "{labels:?}");
        }
    }
    // What an admin alerts on, spelled out: one pool DOWN, two volumes DOWN, the cloud pool without sizes.
    let down: Vec<_> =
        m.all("nbu_disk_pool_state").into_iter().filter(|s| s.labels["state"] == "DOWN" && s.value == 1.0).collect();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].labels["pool_name"], "dp_msdp_02");
    let cloud = [("site", "dc1"), ("pool_name", "dp_cloud_s3"), ("volume", "bucket-nbu-01")];
    assert_eq!(m.get("nbu_disk_volume_free_bytes", &cloud), None);
    // Two requests of 500 per collection, not one per pool.
    assert_eq!(sim.stats().get("disk_pools").copied(), Some(2 + 7));
}

#[test]
fn disk_pools_can_be_turned_off() {
    let sim = Sim::start("10.4", &[]);
    let yaml = format!(
        "{}collectors:\n  disk_pools: false\n",
        config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")])
    );
    let exp = Exporter::start(&yaml);
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "disk_pools")]), None);
    assert!(m.all("nbu_disk_pool_state").is_empty());
    assert_eq!(sim.stats().get("disk_pools"), None);
}

#[test]
fn a_404_or_403_on_disk_pools_is_confined_to_that_source() {
    for (status, kind, hint) in [
        (404, "unsupported", "this NetBackup release does not have the endpoint"),
        (403, "forbidden", "needs the RBAC permission |STORAGE|DISK-POOLS| View"),
    ] {
        let sim = Sim::start("10.4", &[]);
        sim.control(&format!("fail={status}&fail_paths=disk_pools"));
        let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
        exp.wait_ready();
        exp.wait_collections("dc1", "jobs", 4);
        let m = exp.scrape();
        let source = |s: &'static str| [("site", "dc1"), ("source", s)];
        assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0), "{status}");
        assert_eq!(m.get("nbu_scrape_collector_success", &source("jobs")), Some(1.0), "{status}");
        assert_eq!(m.get("nbu_scrape_collector_success", &source("storage")), Some(1.0), "{status}");
        assert_eq!(m.get("nbu_scrape_collector_success", &source("disk_pools")), Some(0.0), "{status}");
        let errors = |k: &str| {
            m.get("nbu_exporter_collection_errors_total", &[("site", "dc1"), ("source", "disk_pools"), ("kind", k)])
        };
        assert!(errors(kind).is_some_and(|n| n >= 1.0), "{status}");
        let other = if kind == "unsupported" { "forbidden" } else { "unsupported" };
        assert_eq!(errors(other), Some(0.0), "{status}");
        let log = exp.log_text();
        assert_eq!(log.matches("disk_pools collection failed:").count(), 1, "{log}");
        assert!(log.contains(&format!("HTTP {status}")) && log.contains(hint), "{log}");
        if status == 404 {
            // A release without the endpoint is asked once per cache TTL (5 min), not at every retry.
            assert_eq!(errors(kind), Some(1.0));
            assert_eq!(sim.stats().get("disk_pools").copied(), Some(1));
            assert!(log.contains("collectors.disk_pools: false"), "{log}");
        }
    }
}

#[test]
fn a_pool_or_volume_going_down_shows_within_one_ttl() {
    let sim = Sim::start("10.4", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 2s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let pool = |m: &Metrics, state: &str| {
        m.get("nbu_disk_pool_state", &[("pool_name", "dp_msdp_01"), ("storage_category", "MSDP"), ("state", state)])
    };
    let volumes =
        |m: &Metrics, state: &str| m.get("nbu_disk_pool_volume_count", &[("pool_name", "dp_adv_01"), ("state", state)]);
    let m = exp.scrape();
    assert_eq!((pool(&m, "UP"), pool(&m, "DOWN")), (Some(1.0), Some(0.0)));
    assert_eq!((volumes(&m, "UP"), volumes(&m, "DOWN")), (Some(1.0), Some(1.0)));
    sim.control("disk_state=dp_msdp_01:DOWN");
    sim.control("disk_state=dp_adv_01/%2Fdisk1:DOWN");
    let started = std::time::Instant::now();
    let m = common::wait_for(Duration::from_secs(10), "the DOWN pool and volume", || {
        let m = exp.scrape();
        (pool(&m, "DOWN") == Some(1.0) && volumes(&m, "DOWN") == Some(2.0)).then_some(m)
    });
    // One TTL (2 s) plus the collection itself; generous for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(pool(&m, "UP"), Some(0.0));
    assert_eq!(volumes(&m, "UP"), Some(0.0));
    let vol = [("pool_name", "dp_adv_01"), ("volume", "/disk1")];
    assert_eq!(m.get("nbu_disk_volume_up", &vol), Some(0.0));
    // And back up.
    sim.control("disk_state=dp_msdp_01:UP");
    common::wait_for(Duration::from_secs(10), "the pool back UP", || {
        (pool(&exp.scrape(), "UP") == Some(1.0)).then_some(())
    });
}
