//! Secrets are never echoed: whatever YAML shape a secret value comes in, `--check-config`, the reload log and
//! the `POST /-/reload` answer name the key and the fix but never quote the value.

mod common;

use common::{config, Exporter, Sim};
use std::process::Command;

const SECRET: &str = "S3cr3tValue-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const SERVER: &str = "  scrapingInterval: 1h\n  collectionInterval: 1s\n";

/// Broken configs that each carry [`SECRET`] in an unexpected shape, with the key the error must name.
fn broken(port: u16) -> Vec<(&'static str, String, &'static str)> {
    let head = format!("nbuservers:\n  - site: dc1\n    scheme: http\n    host: 127.0.0.1\n    port: {port}\n");
    vec![
        ("apiKey as a list", format!("{head}    apiKey:\n      - {SECRET}\n"), "nbuservers[0].apiKey"),
        ("apiKey as a flow list", format!("{head}    apiKey: [{SECRET}, other]\n"), "nbuservers[0].apiKey"),
        ("apiKey as a mapping", format!("{head}    apiKey:\n      value: {SECRET}\n"), "nbuservers[0].apiKey"),
        ("apiKey pasted as a key", format!("{head}    apiKey:\n      {SECRET}: \n"), "nbuservers[0].apiKey"),
        ("nested mapping", format!("{head}    apiKey:\n      a:\n        b: [{SECRET}]\n"), "nbuservers[0].apiKey"),
        ("bad ${{}} in apiKey", format!("{head}    apiKey: \"{SECRET}${{bad name}}\"\n"), "nbuservers[0].apiKey"),
        (
            "password as a list",
            format!("{head}    username: admin\n    password:\n      - {SECRET}\n"),
            "nbuservers[0].password",
        ),
        ("a server written as a string", format!("nbuservers:\n  - {SECRET}\n"), "nbuservers[0]"),
        ("the server list written as a string", format!("nbuservers: {SECRET}\n"), "nbuservers"),
        ("the secret as a stray key of the server", format!("{head}    apiKey: k\n    {SECRET}: x\n"), "not shown"),
    ]
}

#[test]
fn check_config_never_quotes_a_secret_whatever_its_shape() {
    for (what, yaml, key) in broken(1556) {
        let dir = common::scratch_dir();
        let path = dir.join("c.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let out = Command::new(common::exporter_bin()).arg("--check-config").arg(&path).output().expect("run");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains(SECRET) && !text.contains(&SECRET[..16]), "{what}: secret echoed:\n{text}");
        assert!(text.contains(key), "{what}: the message must name {key}:\n{text}");
        if key != "not shown" {
            assert_eq!(out.status.code(), Some(1), "{what}:\n{text}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn reload_log_and_reload_answer_never_quote_a_secret() {
    let sim = Sim::start("10.4", &[]);
    let good = config(SERVER, &[sim.site("dc1", "test-key", "")]);
    let exp = Exporter::start_with(&good, &["--web.enable-lifecycle"], &[]);
    exp.wait_ready();
    for (what, yaml, key) in broken(sim.port()) {
        let yaml = format!("server:\n{SERVER}{yaml}");
        std::fs::write(exp.config_path(), &yaml).unwrap();
        let (status, _, body) = common::post(&exp.url("/-/reload"));
        assert!(!body.contains(SECRET) && !body.contains(&SECRET[..16]), "{what}: secret in the answer:\n{body}");
        if key != "not shown" {
            assert_eq!(status, 500, "{what}: {body}");
            assert!(body.contains(key), "{what}: the answer must name {key}:\n{body}");
        }
    }
    // Every rejected reload was logged; none of them quoted the secret.
    let log = exp.log_text();
    assert!(log.contains("nbuservers[0].apiKey"), "{log}");
    assert!(!log.contains(SECRET) && !log.contains(&SECRET[..16]), "secret in the log:\n{log}");
    // The old configuration kept running throughout.
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0));
}
