//! The tape source against the simulator: every family equals the simulator's inventory over many pages in both
//! paging styles, a release without some or all tape endpoints, a 403 confined to the source, and drive state
//! changes within one TTL.

mod common;

use common::{config, key, wait_for, Exporter, Metrics, Sim};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type Map = BTreeMap<Vec<(String, String)>, f64>;

const DRIVE_STATUSES: [&str; 4] =
    ["DRIVE_STATUS_UP", "DRIVE_STATUS_DOWN", "DRIVE_STATUS_MIXED", "DRIVE_STATUS_DISABLED"];
const DRIVE_CONTROLS: [&str; 13] = [
    "DRIVE_CONTROL_DOWN",
    "DRIVE_CONTROL_OPR",
    "DRIVE_CONTROL_AVR",
    "DRIVE_CONTROL_MIXED",
    "LTID_DOWN",
    "DRIVE_CONTROL_ACTIVE",
    "DRIVE_CONTROL_SCAN",
    "DRIVE_CONTROL_PEND",
    "DRIVE_CONTROL_RESTART",
    "DRIVE_CONTROL_DOWN_ROBOT_STRING",
    "DRIVE_CONTROL_PEND_ROBOT_STRING",
    "DRIVE_CONTROL_SCAN_ROBOT_STRING",
    "DRIVE_CONTROL_ROBOT_STRING",
];

fn tape_truth(sim: &Sim) -> Value {
    let (status, _, body) = common::get(&format!("http://{}/_sim/truth/tape", sim.addr));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn with_tape(sim: &Sim, server: &str) -> String {
    format!("{}collectors:\n  tape: true\n", config(server, &[sim.site("dc1", "test-key", "")]))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Every tape family as the docs define it, computed from the simulator's inventory.
fn expected(truth: &Value) -> BTreeMap<&'static str, Map> {
    let mut want: BTreeMap<&'static str, Map> = BTreeMap::new();
    let mut add = |fam: &'static str, labels: &[(&str, &str)], v: f64| {
        *want.entry(fam).or_default().entry(key(labels)).or_default() += v;
    };
    if truth["served"]["drives"] == true {
        for d in truth["drives"].as_array().unwrap() {
            let (name, a) = (s(d, "id"), &d["attributes"]);
            let (dt, rt) = (s(a, "driveType"), s(a, "robotType"));
            for st in DRIVE_STATUSES {
                let n = f64::from(s(a, "driveStatus") == st);
                add("nbu_tape_drives_count", &[("drive_type", dt), ("robot_type", rt), ("status", st)], n);
            }
            for c in DRIVE_CONTROLS {
                add("nbu_tape_drives_by_control_mode", &[("control", c)], f64::from(s(a, "driveControl") == c));
            }
            let number = a["robotNumber"].to_string();
            let info = [
                ("drive_name", name),
                ("media_server", s(a, "deviceHost")),
                ("drive_type", dt),
                ("robot_type", rt),
                ("robot_number", number.as_str()),
            ];
            add("nbu_tape_drive_info", &info, 1.0);
            let one = [("drive_name", name)];
            add("nbu_tape_drive_up", &one, f64::from(s(a, "driveStatus") == "DRIVE_STATUS_UP"));
            add("nbu_tape_drive_needs_cleaning", &one, f64::from(s(a, "cleaningComment") == "NEEDS CLEANING"));
            let paths = a["devicePaths"].as_array().unwrap();
            add("nbu_tape_drive_paths", &one, paths.len() as f64);
            let down = paths.iter().filter(|p| p["pathStatus"] == "PATH_STATUS_DOWN").count();
            add("nbu_tape_drive_paths_down", &one, down as f64);
            let cleaned = nbu_exporter::netbackup::time::parse_timestamp(s(a, "lastCleaningTime")).filter(|t| *t != 0);
            if let Some(ms) = cleaned {
                add("nbu_tape_drive_last_cleaning_timestamp_seconds", &one, ms as f64 / 1000.0);
            }
        }
    }
    let pools: Vec<(&str, &str, f64)> = if truth["served"]["pools"] == true {
        truth["pools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let a = &p["attributes"];
                (s(a, "volumePoolName"), s(a, "poolType"), a["partiallyFullMedia"].as_f64().unwrap())
            })
            .collect()
    } else {
        Vec::new()
    };
    for (name, pool_type, partially) in &pools {
        add("nbu_tape_pool_partially_full", &[("pool_name", name), ("pool_type", pool_type)], *partially);
    }
    if truth["served"]["media"] == true {
        let media = truth["media"].as_array().unwrap();
        let mut names: Vec<&str> = pools.iter().map(|p| p.0).collect();
        names.extend(media.iter().map(|m| s(&m["attributes"], "volumePool")));
        names.sort();
        names.dedup();
        for pool in names {
            let of: Vec<&Value> =
                media.iter().map(|m| &m["attributes"]).filter(|a| s(a, "volumePool") == pool).collect();
            let flag = |a: &Value, f: &str| s(a, "mediaStatus").split(' ').any(|w| w == f);
            let count = |f: &str| of.iter().filter(|a| flag(a, f)).count() as f64;
            let labels = [("pool_name", pool)];
            add("nbu_tape_pool_frozen_media", &labels, count("FROZEN"));
            add("nbu_tape_pool_suspended_media", &labels, count("SUSPENDED"));
            add("nbu_tape_pool_full_media", &labels, count("FULL"));
            let limited: Vec<(f64, f64)> = of
                .iter()
                .filter(|a| a["maxMounts"].as_f64().unwrap() > 0.0)
                .map(|a| (a["mounts"].as_f64().unwrap(), a["maxMounts"].as_f64().unwrap()))
                .collect();
            add("nbu_tape_pool_media_at_max_mounts", &labels, limited.iter().filter(|(m, x)| m >= x).count() as f64);
            if let Some(r) = limited.iter().map(|(m, x)| m / x).reduce(f64::max) {
                add("nbu_tape_pool_media_max_mounts_ratio", &labels, r);
            }
            if pools.iter().any(|p| p.0 == pool && p.1 == "SCRATCH_MEDIA_POOL") {
                let usable = of
                    .iter()
                    .filter(|a| !["FROZEN", "SUSPENDED", "FULL"].iter().any(|f| flag(a, f)))
                    .filter(|a| !s(a, "mediaType").ends_with("_CLN"))
                    .count();
                add("nbu_tape_scratch_media_available", &labels, usable as f64);
            }
            for a in of {
                let status = if s(a, "mediaStatus").is_empty() { "NONE" } else { s(a, "mediaStatus") };
                let labels = [
                    ("pool", pool),
                    ("media_type", s(a, "mediaType")),
                    ("robot_type", s(&a["robot"], "robotType")),
                    ("status", status),
                ];
                add("nbu_tape_media_count", &labels, 1.0);
            }
        }
    }
    if truth["served"]["robotHosts"] == true {
        add("nbu_tape_robot_device_hosts", &[], truth["robotHosts"].as_array().unwrap().len() as f64);
    }
    want
}

/// Every tape family the docs list (and only those) equals the simulator's inventory.
fn assert_matches_truth(m: &Metrics, truth: &Value) {
    let want = expected(truth);
    let families: Vec<&str> =
        m.samples.iter().map(|s| s.name.as_str()).filter(|n| n.starts_with("nbu_tape_")).collect();
    for fam in families.iter().chain(want.keys()) {
        let got = m.by_labels(fam, "dc1");
        assert_eq!(&got, want.get(fam).unwrap_or(&Map::new()), "{fam}");
    }
}

fn tape_requests(sim: &Sim) -> [Option<u64>; 4] {
    let st = sim.stats();
    ["tape_drives", "tape_media", "tape_pools", "tape_robots"].map(|r| st.get(r).copied())
}

#[test]
fn every_tape_family_equals_the_inventory_on_every_page() {
    // 10.4: drives offset-paged (3 pages of 100), media cursor-paged (12 pages), 30 pools (one page).
    // 11.0: 130 pools, so the pools' cursor walk has two pages too.
    for (release, sizes, requests) in
        [("10.4", ["250", "1200", "30"], [3, 12, 1, 1]), ("11.0", ["120", "450", "130"], [2, 5, 2, 1])]
    {
        let sim = Sim::start(release, &["--tape-drives", sizes[0], "--tape-media", sizes[1], "--tape-pools", sizes[2]]);
        let exp = Exporter::start(&with_tape(&sim, "  collectionInterval: 1s\n"));
        exp.wait_ready();
        let m = exp.scrape();
        assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "tape")]), Some(1.0));
        let truth = tape_truth(&sim);
        assert_eq!(truth["drives"].as_array().unwrap().len().to_string(), sizes[0]);
        assert_eq!(truth["media"].as_array().unwrap().len().to_string(), sizes[1]);
        assert_eq!(m.all("nbu_tape_drive_info").len().to_string(), sizes[0], "{release}");
        let media: f64 = m.all("nbu_tape_media_count").iter().map(|s| s.value).sum();
        assert_eq!(media.to_string(), sizes[1], "{release}");
        assert_matches_truth(&m, &truth);
        // What an admin alerts on, spelled out: the DOWN and the dirty drives, the scratch pool by its type.
        let down = [("drive_name", "HPE.ULTRIUM8-SCSI.003")];
        assert_eq!(m.get("nbu_tape_drive_up", &down), Some(0.0));
        let dirty = [("drive_name", "HPE.ULTRIUM8-SCSI.006")];
        assert_eq!(m.get("nbu_tape_drive_needs_cleaning", &dirty), Some(1.0));
        let scratch: Vec<_> = m.all("nbu_tape_scratch_media_available");
        assert_eq!(scratch.len(), 1, "{release}");
        assert_eq!(scratch[0].labels["pool_name"], "scratch_pool");
        assert!(scratch[0].value > 0.0);
        // One walk per endpoint, every page once, nothing per medium.
        assert_eq!(tape_requests(&sim), requests.map(Some), "{release}");
    }
}

#[test]
fn tape_is_off_by_default() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "tape")]), None);
    assert!(m.all("nbu_tape_drive_info").is_empty());
    assert_eq!(tape_requests(&sim), [None; 4]);
}

#[test]
fn a_release_without_some_or_all_tape_endpoints() {
    // 10.3 has /storage/drives only: drives are reported, the rest is absent, the source succeeds.
    let sim = Sim::start("10.3", &[]);
    let exp = Exporter::start(&with_tape(&sim, "  collectionInterval: 1s\n"));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "tape")]), Some(1.0));
    assert_matches_truth(&m, &tape_truth(&sim));
    assert_eq!(m.all("nbu_tape_drive_info").len(), 12);
    assert!(m.all("nbu_tape_media_count").is_empty() && m.all("nbu_tape_pool_partially_full").is_empty());
    let log = exp.log_text();
    assert_eq!(log.matches("tape: this NetBackup release does not have GET /storage/tape-media").count(), 1, "{log}");
    drop(exp);

    // 8.3 has none: the source fails once as unsupported and is not asked again within the TTL.
    let sim = Sim::start("8.3", &[]);
    let exp = Exporter::start(&with_tape(&sim, "  collectionInterval: 1s\n"));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    let source = |src: &'static str| [("site", "dc1"), ("source", src)];
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &source("jobs")), Some(1.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &source("tape")), Some(0.0));
    let errors =
        |k: &str| m.get("nbu_exporter_collection_errors_total", &[("site", "dc1"), ("source", "tape"), ("kind", k)]);
    assert_eq!(errors("unsupported"), Some(1.0));
    assert_eq!(errors("forbidden"), Some(0.0));
    assert_eq!(tape_requests(&sim), [Some(1); 4]);
    let log = exp.log_text();
    assert_eq!(log.matches("tape collection failed:").count(), 1, "{log}");
    assert!(log.contains("collectors.tape: false"), "{log}");
}

#[test]
fn a_403_on_tape_is_confined_to_that_source() {
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=403&fail_paths=tape");
    // A failed source is asked again after min(cacheTTL, 30 s).
    let exp = Exporter::start(&with_tape(&sim, "  collectionInterval: 1s\n  cacheTTL: 3s\n"));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 4);
    let m = exp.scrape();
    let source = |src: &'static str| [("site", "dc1"), ("source", src)];
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &source("jobs")), Some(1.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &source("disk_pools")), Some(1.0));
    assert_eq!(m.get("nbu_scrape_collector_success", &source("tape")), Some(0.0));
    let forbidden = [("site", "dc1"), ("source", "tape"), ("kind", "forbidden")];
    assert!(m.get("nbu_exporter_collection_errors_total", &forbidden).is_some_and(|n| n >= 1.0));
    assert!(m.all("nbu_tape_drive_info").is_empty());
    let log = exp.log_text();
    assert_eq!(log.matches("tape collection failed:").count(), 1, "{log}");
    assert!(log.contains("HTTP 403") && log.contains("needs the RBAC permission |STORAGE|TAPE-DEVICES| View"), "{log}");
    // The role is fixed: the source recovers on its own.
    sim.control("fail=0");
    wait_for(Duration::from_secs(20), "tape to recover", || {
        (exp.scrape().get("nbu_scrape_collector_success", &source("tape")) == Some(1.0)).then_some(())
    });
}

#[test]
fn a_drive_going_down_or_needing_cleaning_shows_within_one_ttl() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&with_tape(&sim, "  collectionInterval: 1s\n  cacheTTL: 2s\n"));
    exp.wait_ready();
    let drive = [("drive_name", "HPE.ULTRIUM8-SCSI.000")];
    let up_drives = |m: &Metrics| {
        m.all("nbu_tape_drives_count")
            .iter()
            .filter(|s| s.labels["status"] == "DRIVE_STATUS_UP")
            .map(|s| s.value)
            .sum::<f64>()
    };
    let m = exp.scrape();
    assert_eq!(m.get("nbu_tape_drive_up", &drive), Some(1.0));
    assert_eq!(m.get("nbu_tape_drive_needs_cleaning", &drive), Some(0.0));
    let before = up_drives(&m);
    let cleaned_before = m.get("nbu_tape_drive_last_cleaning_timestamp_seconds", &drive);
    sim.control("drive_state=HPE.ULTRIUM8-SCSI.000:DOWN&drive_clean=HPE.ULTRIUM8-SCSI.000");
    let started = Instant::now();
    let m = wait_for(Duration::from_secs(10), "the drive DOWN and dirty", || {
        let m = exp.scrape();
        (m.get("nbu_tape_drive_up", &drive) == Some(0.0) && m.get("nbu_tape_drive_needs_cleaning", &drive) == Some(1.0))
            .then_some(m)
    });
    // One TTL (2 s) plus the collection itself; generous for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(up_drives(&m), before - 1.0);
    assert_eq!(m.get("nbu_tape_drives_by_control_mode", &[("control", "DRIVE_CONTROL_DOWN")]), Some(2.0));
    assert_matches_truth(&m, &tape_truth(&sim));
    // Cleaned and back UP: the cleaning time moves forward.
    sim.control("drive_state=HPE.ULTRIUM8-SCSI.000:UP&drive_clean=HPE.ULTRIUM8-SCSI.000:done");
    let m = wait_for(Duration::from_secs(10), "the drive UP and clean", || {
        let m = exp.scrape();
        (m.get("nbu_tape_drive_up", &drive) == Some(1.0) && m.get("nbu_tape_drive_needs_cleaning", &drive) == Some(0.0))
            .then_some(m)
    });
    let cleaned = m.get("nbu_tape_drive_last_cleaning_timestamp_seconds", &drive);
    assert!(cleaned > cleaned_before, "{cleaned:?} vs {cleaned_before:?}");
}
