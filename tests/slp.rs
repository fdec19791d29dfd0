//! The SLP backlog and inventory against the simulator: every page of every unfinished state, the oldest image,
//! a growing backlog within one TTL, and refusals of either endpoint.

mod common;

use common::{config, wait_for, Exporter, Metrics, Sim};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const STATES: [&str; 4] = ["NOT_STARTED", "IN_PROCESS", "NOT_STARTED|INACTIVE", "IN_PROCESS|INACTIVE"];

/// The simulator's SLP images (all states) and SLPs (`/_sim/slp`).
fn truth(sim: &Sim) -> (Vec<Value>, Vec<Value>) {
    let (status, _, body) = common::get(&format!("http://{}/_sim/slp", sim.addr));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    (v["images"].as_array().unwrap().clone(), v["slps"].as_array().unwrap().clone())
}

/// Backlog per (SLP, state) and the oldest backup time per SLP, computed from the raw images.
fn expected(images: &[Value]) -> (BTreeMap<(String, String), f64>, BTreeMap<String, f64>) {
    let (mut count, mut oldest) = (BTreeMap::new(), BTreeMap::<String, f64>::new());
    for i in images {
        let (slp, state) = (i["slpName"].as_str().unwrap(), i["slpImageState"].as_str().unwrap());
        if !STATES.contains(&state) {
            continue;
        }
        *count.entry((slp.to_string(), state.to_string())).or_default() += 1.0;
        let t = nbu_exporter::netbackup::time::parse_timestamp(i["backupTime"].as_str().unwrap()).unwrap() as f64 / 1e3;
        let o = oldest.entry(slp.to_string()).or_insert(t);
        *o = o.min(t);
    }
    (count, oldest)
}

fn check(m: &Metrics, images: &[Value], slps: &[Value]) {
    let (count, oldest) = expected(images);
    for slp in slps {
        let name = slp["slpName"].as_str().unwrap();
        for state in STATES {
            let want = count.get(&(name.to_string(), state.to_string())).copied().unwrap_or(0.0);
            let got = m.get("nbu_slp_backlog_images", &[("slp_name", name), ("state", state)]);
            assert_eq!(got, Some(want), "{name} {state}");
        }
        let got = m.get("nbu_slp_backlog_oldest_backup_timestamp_seconds", &[("slp_name", name)]);
        assert_eq!(got, oldest.get(name).copied(), "{name}: oldest image");
        let active = if slp["active"] == true { 1.0 } else { 0.0 };
        assert_eq!(m.get("nbu_slp_active", &[("slp_name", name)]), Some(active), "{name}");
        let class = slp["dataClassification"].as_str().unwrap();
        assert_eq!(m.get("nbu_slp_info", &[("slp_name", name), ("data_classification", class)]), Some(1.0));
    }
    assert_eq!(m.all("nbu_slp_info").len(), slps.len());
    assert_eq!(m.all("nbu_slp_backlog_images").len(), slps.len() * STATES.len());
}

#[test]
fn the_backlog_of_every_slp_over_every_page_equals_the_truth() {
    // 5000 images before the start: about 1700 NOT_STARTED, two pages of 1000.
    let sim = Sim::start("10.5", &["--slp-images", "5000"]);
    sim.control("freeze=1");
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let (images, slps) = truth(&sim);
    let (count, _) = expected(&images);
    assert!(count[&("slp_dup_tape".to_string(), "NOT_STARTED".to_string())] > 0.0);
    let not_started: f64 = count.iter().filter(|((_, s), _)| s == "NOT_STARTED").map(|(_, n)| n).sum();
    assert!(not_started > 1000.0, "more than one page: {not_started}");
    let m = exp.scrape();
    assert_eq!(m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", "slps")]), Some(1.0));
    check(&m, &images, &slps);
    // Complete images never cross the API: one walk per unfinished state, pages of 1000, plus the inventory.
    let stats = sim.stats();
    assert_eq!(stats.get("slp_images").copied(), Some(5), "{stats:?}");
    assert_eq!(stats.get("slps").copied(), Some(1), "{stats:?}");
    assert!(exp.scrape().text.contains("# HELP nbu_slp_backlog_images Images whose storage lifecycle (SLP) copies are not done, per SLP and slpImageState (cached: 5m TTL)"));
}

#[test]
fn a_growing_backlog_shows_within_one_ttl() {
    let sim = Sim::start("10.4", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 2s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let pending = |m: &Metrics| {
        m.get("nbu_slp_backlog_images", &[("slp_name", "slp_dup_tape"), ("state", "NOT_STARTED")]).unwrap()
    };
    let before = pending(&exp.scrape());
    // A new image every 10 s: seen within 10 s plus one TTL (2 s), generous for a loaded machine.
    wait_for(Duration::from_secs(20), "one more pending image", || (pending(&exp.scrape()) > before).then_some(()));
    sim.control("freeze=1");
    exp.wait_collections("dc1", "slps", 2);
    let (images, slps) = truth(&sim);
    check(&exp.scrape(), &images, &slps);
}

#[test]
fn refusals_are_confined_and_the_backlog_survives_a_refused_inventory() {
    // The inventory refused: the backlog is still reported, and the log says what is missing, once.
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=403&fail_paths=slps");
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "slps", 2);
    let m = exp.scrape();
    let ok = |m: &Metrics, src: &str| m.get("nbu_scrape_collector_success", &[("site", "dc1"), ("source", src)]);
    assert_eq!(ok(&m, "slps"), Some(1.0));
    assert!(!m.all("nbu_slp_backlog_images").is_empty());
    assert!(m.all("nbu_slp_info").is_empty(), "no inventory without its permission");
    let log = exp.log_text();
    assert_eq!(log.matches("reporting the SLP backlog without the SLP inventory").count(), 1, "{log}");

    // The images refused: the source fails alone, naming the permission.
    let sim = Sim::start("10.4", &[]);
    sim.control("fail=403&fail_paths=slp_images");
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    assert_eq!(ok(&m, "slps"), Some(0.0));
    assert_eq!(ok(&m, "jobs"), Some(1.0));
    assert_eq!(m.get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert!(exp.log_text().contains("|MANAGE|STORAGE-LIFECYCLE-IMAGES| View"), "{}", exp.log_text());

    // NetBackup 8.3 has neither endpoint: unsupported, once.
    let old = Sim::start("8.3", &[]);
    let exp = Exporter::start(&config("  collectionInterval: 1s\n", &[old.site("dc1", "test-key", "")]));
    exp.wait_ready();
    exp.wait_collections("dc1", "jobs", 3);
    let m = exp.scrape();
    let err = [("site", "dc1"), ("source", "slps"), ("kind", "unsupported")];
    assert_eq!(m.get("nbu_exporter_collection_errors_total", &err), Some(1.0));
    assert!(exp.log_text().contains("collectors.slps: false"), "{}", exp.log_text());
}
