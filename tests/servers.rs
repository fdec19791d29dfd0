//! Storage servers and media servers against the simulator: every page read, every series as NetBackup reports
//! it, a state change within one TTL, a 403 confined to its source, and a release without the endpoint.

mod common;

use common::{config, wait_for, Exporter, Metrics, Sim};
use serde_json::Value;
use std::time::Duration;

/// The simulator's storage and media servers as it serves them (`/_sim/servers`).
fn truth(sim: &Sim) -> (Vec<Value>, Vec<Value>) {
    let (status, _, body) = common::get(&format!("http://{}/_sim/servers", sim.addr));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    (v["storageServers"].as_array().unwrap().clone(), v["mediaServers"].as_array().unwrap().clone())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Every storage-server series of `m` equals what the simulator's servers say.
fn check_storage_servers(m: &Metrics, servers: &[Value]) {
    assert_eq!(m.all("nbu_storage_server_info").len(), servers.len());
    for srv in servers {
        let name = s(srv, "name");
        let base = [("site", "dc1"), ("storage_server", name), ("storage_category", s(srv, "storageCategory"))];
        for state in ["UP", "DOWN"] {
            let want = f64::from(srv["storageServerState"] == state);
            let labels: Vec<_> = base.iter().copied().chain([("state", state)]).collect();
            assert_eq!(m.get("nbu_storage_server_state", &labels), Some(want), "{name} {state}");
        }
        let info = [("storage_server", name), ("server_type", s(srv, "sType")), ("version", s(srv, "nbuHostVersion"))];
        assert_eq!(m.get("nbu_storage_server_info", &info), Some(1.0), "{name}");
        let pool = &srv["msdpAttributes"]["storagePoolDetails"];
        let one = [("site", "dc1"), ("storage_server", name)];
        let mib64 = 64.0 * 1_048_576.0; // used space grows with the simulator's clock between walk and scrape
        let close = |fam: &str, want: Option<f64>| match (m.get(fam, &one), want) {
            (Some(g), Some(w)) => assert!((g - w).abs() <= mib64, "{fam} {name}: {g} vs {w}"),
            (g, w) => assert_eq!(g, w, "{fam} {name}"),
        };
        assert_eq!(m.get("nbu_msdp_pool_size_bytes", &one), pool["sizeBytes"].as_f64(), "{name}");
        assert_eq!(m.get("nbu_msdp_pool_raw_bytes", &one), pool["rawSizeBytes"].as_f64(), "{name}");
        assert_eq!(m.get("nbu_msdp_pool_reserved_bytes", &one), pool["reservedSpaceBytes"].as_f64(), "{name}");
        close("nbu_msdp_pool_used_bytes", pool["usedSpaceBytes"].as_f64());
        close("nbu_msdp_pool_available_bytes", pool["availableSpaceBytes"].as_f64());
        let dedup = srv["msdpAttributes"]["deduplicationRatioPercentage"].as_f64();
        assert_eq!(m.get("nbu_msdp_deduplication_ratio_percent", &one), dedup, "{name}");
        if let (Some(used), Some(size)) = (pool["usedSpaceBytes"].as_f64(), pool["sizeBytes"].as_f64()) {
            let ratio = m.get("nbu_msdp_pool_used_ratio", &one).unwrap();
            assert!((ratio - used / size).abs() < 0.01, "{name}: {ratio}");
        }
    }
}

/// Every media-server series of `m` equals what the simulator's servers say.
fn check_media_servers(m: &Metrics, servers: &[Value]) {
    assert_eq!(m.all("nbu_media_server_info").len(), servers.len());
    for srv in servers {
        let name = s(srv, "hostName");
        let one = [("site", "dc1"), ("media_server", name)];
        assert_eq!(m.get("nbu_media_server_up", &one), srv["isMachineUp"].as_bool().map(f64::from), "{name}");
        let statuses = [
            "ACTIVE_FOR_TAPE_AND_DISK",
            "ACTIVE_FOR_TAPE",
            "ACTIVE_FOR_DISK",
            "OFFLINE",
            "DEACTIVATED",
            "VIRTUAL_NODE",
        ];
        for st in statuses {
            let want = f64::from(srv["status"]["name"] == st);
            assert_eq!(m.get("nbu_media_server_status", &[("media_server", name), ("status", st)]), Some(want));
        }
        let info = [("media_server", name), ("version", s(srv, "nbuVersion")), ("os_type", s(srv, "osType"))];
        assert_eq!(m.get("nbu_media_server_info", &info), Some(1.0), "{name}");
    }
}

#[test]
fn every_storage_and_media_server_on_every_page_as_netbackup_reports_it() {
    // 625 storage servers (7 pages of 100) and 626 media servers (2 pages of 500).
    let sim = Sim::start("10.4", &["--extra-servers", "620"]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let (storage, media) = truth(&sim);
    assert_eq!((storage.len(), media.len()), (625, 626));
    let m = exp.scrape();
    for source in ["storage_servers", "media_servers"] {
        assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", source)]), Some(1.0));
    }
    check_storage_servers(&m, &storage);
    check_media_servers(&m, &media);
    // What an admin alerts on: one storage server DOWN, one media server OFFLINE and down.
    let down: Vec<_> = m
        .all("nbu_storage_server_state")
        .into_iter()
        .filter(|s| s.labels["state"] == "DOWN" && s.value == 1.0)
        .collect();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].labels["storage_server"], "msdp-dr.example.com");
    let offline = [("media_server", "nbu-media04.example.com")];
    assert_eq!(m.get("nbu_media_server_up", &offline), Some(0.0));
    let stats = sim.stats();
    assert_eq!(stats.get("storage_servers").copied(), Some(7), "one request per page: {stats:?}");
    assert_eq!(stats.get("media_servers").copied(), Some(2), "one request per page: {stats:?}");
}

#[test]
fn a_server_changing_state_shows_within_one_ttl() {
    let sim = Sim::start("10.5", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 2s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let storage_down = |m: &Metrics| {
        m.get("nbu_storage_server_state", &[("storage_server", "msdp-primary.example.com"), ("state", "DOWN")])
    };
    let media01 = [("media_server", "nbu-media01.example.com")];
    let offline = |m: &Metrics| {
        m.get("nbu_media_server_status", &[("media_server", "nbu-media01.example.com"), ("status", "OFFLINE")])
    };
    let m = exp.scrape();
    assert_eq!(
        (storage_down(&m), offline(&m), m.get("nbu_media_server_up", &media01)),
        (Some(0.0), Some(0.0), Some(1.0))
    );
    sim.control("server_state=msdp-primary.example.com:DOWN");
    sim.control("server_state=nbu-media01.example.com:OFFLINE");
    let started = std::time::Instant::now();
    let m = wait_for(Duration::from_secs(10), "the DOWN storage server and the OFFLINE media server", || {
        let m = exp.scrape();
        (storage_down(&m) == Some(1.0) && offline(&m) == Some(1.0)).then_some(m)
    });
    // One TTL (2 s) plus the collection itself; generous for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(m.get("nbu_media_server_up", &media01), Some(0.0));
    let (storage, media) = truth(&sim);
    check_storage_servers(&m, &storage);
    check_media_servers(&m, &media);
}

#[test]
fn a_403_is_confined_to_its_source_and_a_release_without_the_endpoint_says_so_once() {
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=403&fail_paths=storage_servers");
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    let ok = |m: &Metrics, src: &str| m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", src)]);
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    for src in ["jobs", "storage", "disk_pools", "media_servers"] {
        assert_eq!(ok(&m, src), Some(1.0), "{src}");
    }
    assert_eq!(ok(&m, "storage_servers"), Some(0.0));
    let err = [("site", "dc1"), ("source", "storage_servers"), ("kind", "forbidden")];
    assert!(m.get("nbu_exporter_collection_errors_total", &err) >= Some(1.0));
    let log = exp.log_text();
    assert!(log.contains("needs the RBAC permission |STORAGE|STORAGE-SERVERS| View"), "{log}");
    assert_eq!(log.matches("storage_servers collection failed:").count(), 1, "{log}");

    // NetBackup 8.3 has no /config/media-servers: unsupported, asked once per TTL, everything else collected.
    let old = Sim::start("8.3", &[]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[old.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    assert_eq!(ok(&m, "media_servers"), Some(0.0));
    assert_eq!(ok(&m, "storage_servers"), Some(1.0));
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    let err = [("site", "dc1"), ("source", "media_servers"), ("kind", "unsupported")];
    assert_eq!(m.get("nbu_exporter_collection_errors_total", &err), Some(1.0));
    assert_eq!(old.stats().get("media_servers"), None, "a 404 route is counted as other");
    assert!(exp.log_text().contains("collectors.media_servers: false"), "{}", exp.log_text());
}

#[test]
fn a_collector_polls_on_its_own_cache_ttl_and_its_help_says_so() {
    let sim = Sim::start("10.4", &[]);
    let cfg = format!(
        "{}collectors:\n  media_servers:\n    enabled: true\n    cacheTTL: 1s\n",
        config("  collectionInterval: 1s\n  cacheTTL: 1h\n", &[sim.site("dc1", "test-key", "")])
    );
    let exp = Exporter::start(&cfg);
    exp.wait_ready();
    exp.wait_collections("dc1", "media_servers", 3);
    let stats = sim.stats();
    assert!(stats.get("media_servers") >= Some(&4), "{stats:?}");
    assert_eq!(stats.get("storage_servers"), Some(&1), "server.cacheTTL (1h) for the others: {stats:?}");
    let text = exp.scrape().text;
    assert!(
        text.contains(
            "# HELP nbu_media_server_up 1 if NetBackup reports the media server's machine up, else 0 (cached: 1s TTL)"
        ),
        "{text}"
    );
    assert!(text.contains(
        "# HELP nbu_storage_server_info Storage server type and NetBackup version, value always 1 (cached: 1h TTL)"
    ));
    // A TTL on jobs is warned about (jobs follow collectionInterval); a bad one is an error naming the key.
    let check = |collectors: &str| {
        let path = common::scratch_dir().join("ttl.yaml");
        std::fs::write(&path, format!("{}collectors:\n{collectors}", config("", &[sim.site("dc1", "test-key", "")])))
            .unwrap();
        let out = std::process::Command::new(common::exporter_bin())
            .args(["--check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, text) = check("  jobs: {cacheTTL: 5m}\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("collectors.jobs.cacheTTL: jobs are polled every server.collectionInterval"), "{text}");
    let (code, text) = check("  disk_pools: {cacheTTL: soon}\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("collectors.disk_pools.cacheTTL: \"soon\" is not a duration"), "{text}");
}
