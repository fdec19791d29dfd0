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
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("nbu_exporter, version "));
    let out = exporter(&["--help"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--web.listen-address"));
    let out = exporter(&["--web.listen-adress", ":1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean --web.listen-address"));
}

/// `git <args>` in the source tree, if it is a checkout of its own (as build.rs decides) and git answers.
fn git(args: &[&str]) -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    if !std::path::Path::new(dir).join(".git").exists() {
        return None;
    }
    let out = Command::new("git").args(args).current_dir(dir).stderr(std::process::Stdio::null()).output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !line.is_empty()).then_some(line)
}

fn set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.trim().is_empty())
}

#[test]
fn version_names_revision_branch_and_rustc() {
    let out = exporter(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with('\n'), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");

    // nbu_exporter, version 0.1.0 (branch: main, revision: <40 hex>)
    let prefix = format!("nbu_exporter, version {} (branch: ", env!("CARGO_PKG_VERSION"));
    let (branch, revision) = lines[0]
        .strip_prefix(prefix.as_str())
        .and_then(|l| l.strip_suffix(')'))
        .and_then(|l| l.rsplit_once(", revision: "))
        .unwrap_or_else(|| panic!("first line: {text}"));
    assert!(!branch.is_empty(), "{text}");
    assert!(
        revision == "unknown" || (revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );

    let value = |i: usize, label: &str| {
        let v = lines[i].strip_prefix(label).unwrap_or_else(|| panic!("line {}: {text}", i + 1));
        assert!(!v.is_empty() && !v.starts_with(' '), "line {}: {text}", i + 1);
        v
    };
    let date = value(1, "  build date:       ");
    let shape: String = date.chars().map(|c| if c.is_ascii_digit() { 'd' } else { c }).collect();
    assert_eq!(shape, "dddddddd-dd:dd:dd", "build date: {text}");
    let rustc = value(2, "  rustc version:    ");
    assert!(
        rustc == "unknown"
            || rustc.split(['.', '-']).take(3).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "rustc version: {text}"
    );
    assert_eq!(value(3, "  platform:         "), format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH));

    // The revision (and branch) are the checkout's, unless the build was told otherwise.
    if set("NBU_EXPORTER_REVISION") {
        eprintln!("SKIPPED revision comparison: NBU_EXPORTER_REVISION is set");
    } else if let Some(head) = git(&["rev-parse", "HEAD"]) {
        assert_eq!(revision, head, "{text}");
        if !set("NBU_EXPORTER_BRANCH") {
            let want = git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
            assert_eq!(branch, want.as_deref().unwrap_or("unknown"), "{text}");
        }
    } else {
        eprintln!("SKIPPED revision comparison: not a git checkout");
    }
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
