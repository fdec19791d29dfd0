//! Real `/admin/jobs` pages captured from a NetBackup 10.4.0.1 primary (in ../shared, not in this repository)
//! must parse with the exporter's models and show the quirks the models are built for.

use nbu_exporter::netbackup::models::{JobAttributes, Page};
use nbu_exporter::netbackup::time::{parse_duration, parse_set_timestamp, parse_timestamp};
use std::path::Path;

#[test]
fn captured_job_pages_parse_and_show_real_server_quirks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/netbackup/captures");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: {} does not exist; the real-server capture test needs ../shared beside the checkout",
            dir.display()
        );
        return;
    };
    let (mut files, mut jobs, mut active, mut float_ratio, mut int_ratio, mut cursors) = (0, 0, 0, 0, 0, 0);
    for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")) {
        files += 1;
        let text = std::fs::read_to_string(e.path()).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        let page: Page<JobAttributes> =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        if page.meta.and_then(|m| m.pagination).and_then(|p| p.next).is_some() {
            cursors += 1;
        }
        for (item, raw_item) in page.data.unwrap().iter().zip(raw["data"].as_array().unwrap()) {
            jobs += 1;
            let a = item.attributes.as_ref().expect("attributes");
            assert!(a.job_id.is_some() && a.state.is_some());
            let ratio = &raw_item["attributes"]["dedupRatio"];
            if ratio.is_f64() {
                float_ratio += 1;
            } else if ratio.is_i64() {
                int_ratio += 1;
            }
            if a.state.as_deref() == Some("ACTIVE") {
                active += 1;
                assert_eq!(a.status, None, "ACTIVE jobs carry no status: job {:?}", a.job_id);
                if let Some(end) = &a.end_time {
                    assert_eq!(parse_timestamp(end), Some(0), "unfinished jobs end at epoch zero");
                    assert_eq!(parse_set_timestamp(end), None, "epoch zero means not set");
                }
            }
            if a.state.as_deref() == Some("DONE") {
                assert!(a.status.is_some(), "DONE jobs carry a status");
                assert!(a.end_time.as_deref().and_then(parse_set_timestamp).is_some());
            }
            if let Some(e) = &a.elapsed_time {
                assert!(e.starts_with("PT") && parse_duration(e).is_some(), "ISO duration {e}");
            }
            assert!(a.last_update_time.as_deref().and_then(parse_set_timestamp).is_some());
        }
    }
    assert!(files >= 6, "expected the six captured pages, found {files}");
    assert!(jobs >= 50 && active >= 20, "{jobs} jobs, {active} active");
    assert!(float_ratio > 0 && int_ratio > 0, "dedupRatio arrives as float ({float_ratio}) and int ({int_ratio})");
    assert!(cursors > 0, "cursor pagination: meta.pagination.next is a string cursor");
}
