//! The exporter as Prometheus sees it: `promtool check metrics` on a full page, and a real Prometheus scraping it
//! while jobs finish and leave the window. Both need Debian's `prometheus` package (`.ci/run` installs it and sets
//! `NBU_REQUIRE_PROMETHEUS=1`, so there they cannot skip).

mod common;

use common::{config, wait_for, Exporter, Sim};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Go exporter's gauge names that end in `_count`, kept for drop-in compatibility (docs/metrics.md).
const GO_COMPATIBLE: [&str; 8] = [
    "nbu_jobs_count",
    "nbu_status_count",
    "nbu_jobs_files_count",
    "nbu_jobs_state_count",
    "nbu_jobs_queued_count",
    "nbu_disk_pool_volume_count",
    "nbu_tape_drives_count",
    "nbu_tape_media_count",
];

/// `name` on the PATH, or `None` after saying SKIPPED (a failure when `NBU_REQUIRE_PROMETHEUS=1`).
fn tool(name: &str) -> Option<String> {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string());
    if found.is_none() {
        assert!(
            std::env::var("NBU_REQUIRE_PROMETHEUS").ok().as_deref() != Some("1"),
            "{name} is required (NBU_REQUIRE_PROMETHEUS=1) but not on the PATH; apt-get install prometheus"
        );
        eprintln!("SKIPPED: {name} not found (Debian: apt-get install prometheus)");
    }
    found
}

#[test]
fn promtool_lints_nothing_but_the_go_compatible_count_names() {
    let Some(promtool) = tool("promtool") else { return };
    let sim = Sim::start("10.4", &[]);
    // Every collector on, the opt-in tape one included.
    let yaml = config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]) + "collectors:\n  tape: true\n";
    let exp = Exporter::start(&yaml);
    exp.wait_ready();
    let page = wait_for(Duration::from_secs(10), "a page with every job family", || {
        let m = exp.scrape();
        GO_COMPATIBLE.iter().all(|f| !m.all(f).is_empty()).then_some(m.text)
    });
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().expect("stdin").write_all(page.as_bytes()).expect("write the page");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let linted: BTreeSet<&str> = report.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let allowed: BTreeSet<&str> = GO_COMPATIBLE.into_iter().collect();
    assert_eq!(linted, allowed, "promtool check metrics:\n{report}");
    for line in report.lines() {
        assert!(line.ends_with("non-histogram and non-summary metrics should not have \"_count\" suffix"), "{line}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus server scraping `target` every second, stopped on drop.
struct Prometheus {
    child: std::process::Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Prometheus {
    fn start(binary: &str, target: &str) -> Prometheus {
        let dir = common::scratch_dir();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: nbu\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let url = format!("http://{listen}");
        wait_for(Duration::from_secs(30), "Prometheus to be ready", || {
            std::net::TcpStream::connect(&listen).ok()?;
            (common::get(&format!("{url}/-/ready")).0 == 200).then_some(())
        });
        Prometheus { child, url, dir }
    }

    /// The value of a PromQL expression that yields one sample.
    fn scalar(&self, expr: &str) -> f64 {
        let q: String = expr
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let (status, _, body) = common::get(&format!("{}/api/v1/query?query={q}", self.url));
        assert_eq!(status, 200, "{expr}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let result = &v["data"]["result"];
        assert_eq!(result.as_array().map(Vec::len), Some(1), "{expr}: {body}");
        result[0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{expr}: {body}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_real_prometheus_sees_counters_and_the_histogram_never_reset_while_window_gauges_fall() {
    let Some(binary) = tool("prometheus") else { return };
    let sim = Sim::start("10.4", &["--jobs-per-hour", "7200"]);
    // A 20 s window: finished jobs leave it while Prometheus watches.
    let exp = Exporter::start(&config(
        "  scrapingInterval: 20s\n  collectionInterval: 1s\n",
        &[sim.site("dc1", "test-key", "")],
    ));
    exp.wait_ready();
    let prom = Prometheus::start(&binary, &exp.addr);
    std::thread::sleep(Duration::from_secs(35));
    assert_eq!(prom.scalar("up{job=\"nbu\"}"), 1.0);
    assert_eq!(prom.scalar("max(nbu_up)"), 1.0);
    let resets = |m: &str| prom.scalar(&format!("sum(resets({m}[1m])) or vector(0)"));
    assert_eq!(resets("nbu_job_duration_seconds_bucket"), 0.0, "histogram buckets reset");
    assert_eq!(resets("nbu_job_duration_seconds_count"), 0.0);
    assert_eq!(resets("nbu_job_duration_seconds_sum"), 0.0);
    assert_eq!(resets("nbu_jobs_finished_total"), 0.0);
    assert_eq!(resets("nbu_jobs_transferred_bytes_total"), 0.0);
    assert_eq!(resets("nbu_exporter_api_requests_total"), 0.0);
    // Meanwhile jobs finished, and the window gauges fell as jobs left the 20 s window.
    assert!(prom.scalar("sum(increase(nbu_job_duration_seconds_count[30s]))") > 0.0);
    assert!(resets("nbu_jobs_count") > 0.0, "the window gauges should have fallen at least once");
    // rate() of the histogram and of the counter describe the same jobs.
    // One expression, so both come from the same scrape (two queries may straddle one).
    let diff = prom.scalar("sum(nbu_job_duration_seconds_count) - sum(nbu_jobs_finished_total)");
    assert_eq!(diff, 0.0, "every counted job observed once");
    assert!(prom.scalar("sum(nbu_jobs_finished_total)") > 0.0);
    let p90 = prom.scalar("histogram_quantile(0.9, sum by (le) (rate(nbu_job_duration_seconds_bucket[30s])))");
    assert!(p90.is_finite() && p90 > 0.0 && p90 <= 86_400.0, "p90 {p90}");
}
