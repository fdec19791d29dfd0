//! The binary's command line, config validation, HTTP endpoints and shutdown, run as a user would.

mod common;

use common::{config, get, Exporter, Sim};
use std::process::Command;
use std::time::{Duration, Instant};

fn exporter(args: &[&str]) -> std::process::Output {
    Command::new(common::exporter_bin()).args(args).env_remove("NBU_API_KEY").output().expect("run")
}

fn check(yaml: &str) -> (i32, String, String) {
    let dir = common::scratch_dir();
    let path = dir.join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = exporter(&["--check-config", path.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_configs_give_one_line_naming_key_and_fix_and_exit_1() {
    let site = "nbuservers:\n  - site: a\n    host: nbu1\n";
    let cases = [
        ("missing apiKey", site.to_string(), "nbuservers[0].apiKey: missing", "create an API key"),
        (
            "bad duration",
            format!("server:\n  scrapingInterval: 5 minutes\n{site}    apiKey: k\n"),
            "server.scrapingInterval: \"5 minutes\"",
            "use e.g. \"5m\"",
        ),
        (
            "duplicate site",
            format!("{site}    apiKey: k\n  - site: a\n    host: nbu2\n    apiKey: k\n"),
            "site \"a\" is defined more than once",
            "unique site",
        ),
        ("bad scheme", format!("{site}    apiKey: k\n    scheme: ftp\n"), "nbuservers[0].scheme: \"ftp\"", "use https"),
        (
            "typo'd key",
            format!("{site}    apiKy: k\n"),
            "nbuservers[0].apiKey: missing (found \"apiKy\": a typo of apiKey?)",
            "create an API key",
        ),
    ];
    for (what, yaml, key_part, fix_part) in cases {
        let (code, stdout, stderr) = check(&yaml);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(!stdout.contains("OK"), "{what}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line per problem, got {stderr:?}");
        assert!(lines[0].contains(key_part) && lines[0].contains(fix_part), "{what}: {stderr}");
    }
}

#[test]
fn check_config_accepts_the_shipped_file_and_warns_about_typos() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml");
    let out = Command::new(common::exporter_bin())
        .args(["--check-config", shipped])
        .env("NBU_API_KEY", "anything")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
    let (code, stdout, stderr) = check("server:\n  cacheTtl: 5m\nnbuservers:\n  - {host: h, apiKey: k}\n");
    assert_eq!((code, stdout.as_str()), (0, "OK\n"));
    assert!(stderr.contains("server.cacheTtl: unknown key ignored; did you mean \"cacheTTL\"?"), "{stderr}");
    let out = exporter(&["--check-config", "/nonexistent/config.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}

#[test]
fn version_help_and_bad_flags() {
    let out = exporter(&["--version"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("nbu_exporter "));
    let out = exporter(&["--help"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--web.listen-address"));
    let out = exporter(&["--web.listen-adress", ":1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean --web.listen-address"));
}

#[test]
fn http_endpoints_and_clean_sigterm() {
    let sim = Sim::start("10.4", &[]);
    let mut exp = Exporter::start_with(
        &config("  collectionInterval: 1s\n", &[sim.site("dc1", "test-key", "")]),
        &["--web.telemetry-path", "/nbu-metrics", "--log.format", "json"],
        &[],
    );
    exp.wait_ready();
    let (status, ct, body) = get(&exp.url("/nbu-metrics"));
    assert_eq!((status, ct.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert!(body.contains("nbu_exporter_build_info{version=\""));
    assert!(body.contains("nbu_up{site=\"dc1\"} 1"));
    assert_eq!(get(&exp.url("/metrics")).0, 404);
    let (status, ct, page) = get(&exp.url("/"));
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("href=\"/nbu-metrics\"") && page.contains("<td>dc1</td>"));
    assert_eq!(get(&exp.url("/-/healthy")).0, 200);
    assert_eq!(get(&exp.url("/-/ready")).0, 200);
    assert_eq!(get(&exp.url("/nope")).0, 404);
    // Every log line is one JSON object.
    for line in exp.logs.lock().unwrap().iter() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(v["ts"].is_string() && v["level"].is_string() && v["msg"].is_string());
    }
    // SIGTERM: stop accepting, stop pollers, exit 0.
    let t = Instant::now();
    exp.signal("-TERM");
    assert_eq!(exp.wait_exit(t, Duration::from_secs(10)), Some(0));
    assert!(exp.log_text().contains("stopped"));
}

#[test]
fn legacy_single_server_config_still_works() {
    let sim = Sim::start("10.4", &[]);
    let yaml = format!(
        "server:\n  host: localhost\n  port: \"2112\"\n  uri: /metrics\n  scrapingInterval: 1h\n\
         nbuserver:\n  scheme: http\n  uri: /netbackup\n  domain: my.domain\n  domainType: NT\n  host: 127.0.0.1\n  port: \"{}\"\n  apiKey: ${{SIM_KEY}}\n  contentType: x\n",
        sim.port()
    );
    let exp = Exporter::start_with(&yaml, &[], &[("SIM_KEY", "test-key")]);
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "127.0.0.1")]), Some(1.0));
    let log = exp.log_text();
    assert!(log.contains("nbuserver: the single nbuserver: block is deprecated"), "{log}");
    assert!(log.contains("nbuserver.domain: domain/domainType only apply to a username: login"), "{log}");
    assert!(!log.contains("test-key"));
}
