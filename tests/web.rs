//! `--web.config.file`: TLS on the exporter's own endpoint, client certificates, basic auth with bcrypt hashes,
//! extra headers, reload of certificate and users, and errors that name the key; plus the request-head limits.

mod common;

use base64::Engine;
use common::certs::{make_ca, make_certs, make_client_cert};
use common::{config, get, wait_for, Exporter, Sim};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An HTTPS GET over rustls: (status, head, body), or the error (e.g. a refused handshake).
fn https_get(
    addr: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    auth: Option<(&str, &str)>,
    path: &str,
) -> Result<(u16, String, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert).unwrap().map(Result::unwrap).collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let conn = rustls::ClientConnection::new(Arc::new(cfg), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some((u, p)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req += &format!("Authorization: Basic {token}\r\n");
    }
    req += "\r\n";
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let read = tls.read_to_end(&mut raw);
    if raw.is_empty() {
        return Err(read.err().map_or("connection closed without a response".into(), |e| e.to_string()));
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 6).unwrap()
}

/// Starts an exporter against `sim` with `web_yaml` as its web config file (in the exporter's scratch dir).
fn start(sim: &Sim, dir: &Path, web_yaml: &str, secrets: &[&str]) -> Exporter {
    let web = dir.join("web.yaml");
    std::fs::write(&web, web_yaml).unwrap();
    let web_arg = web.display().to_string();
    let mut exp = Exporter::start_with(
        &config("  collectionInterval: 2s\n", &[sim.site("dc1", "test-key", "")]),
        &["--web.config.file", &web_arg],
        &[],
    );
    exp.secrets.extend(secrets.iter().map(|s| s.to_string()));
    exp
}

#[test]
fn tls_basic_auth_and_headers() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    let sim = Sim::start("10.4", &[]);
    let password = "s3cret-web-password";
    let web = format!(
        "tls_server_config:\n  cert_file: srv.pem\n  key_file: srv.key\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
         basic_auth_users:\n  prometheus: '{}'\n",
        bcrypt_hash(password)
    );
    let exp = start(&sim, &dir, &web, &[password]);
    let ca = dir.join("ca.pem");
    let log = exp.log_text();
    assert!(log.contains("listening on https://") && log.contains("with basic auth"), "{log}");

    // Storage may answer before jobs: wait until the jobs source has rendered too.
    let (status, head, body) = wait_for(Duration::from_secs(20), "an authenticated scrape with jobs collected", || {
        let r = https_get(&exp.addr, &ca, None, Some(("prometheus", password)), "/metrics").ok()?;
        (r.2.contains("nbu_up{site=\"dc1\"} 1")
            && r.2.contains("nbu_scrape_collector_success{site=\"dc1\",source=\"jobs\"} 1"))
        .then_some(r)
    });
    assert_eq!(status, 200);
    assert!(head.contains("X-Frame-Options: deny"), "{head}");
    assert!(body.contains("nbu_jobs_count{"), "{body}");
    for (who, auth) in [
        ("no credentials", None),
        ("a wrong password", Some(("prometheus", "s3cret-web-passworD"))),
        ("an unknown user", Some(("grafana", password))),
    ] {
        let (status, head, _) = https_get(&exp.addr, &ca, None, auth, "/metrics").unwrap();
        assert_eq!(status, 401, "{who}: {head}");
        assert!(head.contains("WWW-Authenticate: Basic"), "{who}: {head}");
        assert!(head.contains("X-Frame-Options: deny"), "{who}: {head}");
    }
    // Every path is protected, not only /metrics.
    assert_eq!(https_get(&exp.addr, &ca, None, None, "/").unwrap().0, 401);
    assert_eq!(https_get(&exp.addr, &ca, None, Some(("prometheus", password)), "/").unwrap().0, 200);
    // Plain HTTP to the TLS port gets no metrics.
    let plain = std::panic::catch_unwind(|| get(&exp.url("/metrics")));
    assert!(plain.map_or(true, |(s, _, b)| s != 200 && !b.contains("nbu_up")), "plain HTTP was served");
    // A client that does not trust the exporter's CA is refused.
    make_ca(&dir, "other");
    assert!(https_get(&exp.addr, &dir.join("other.pem"), None, None, "/metrics").is_err());
    drop(exp);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_certificates() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    make_client_cert(&dir, "prom", "ca");
    make_ca(&dir, "rogue");
    make_client_cert(&dir, "intruder", "rogue");
    let sim = Sim::start("10.4", &[]);
    let web = "tls_server_config:\n  cert_file: srv.pem\n  key_file: srv.key\n  client_ca_file: ca.pem\n  \
               client_auth_type: RequireAndVerifyClientCert\n";
    let exp = start(&sim, &dir, web, &[]);
    let ca = dir.join("ca.pem");
    let (good_cert, good_key) = (dir.join("prom.pem"), dir.join("prom.key"));
    let r = https_get(&exp.addr, &ca, Some((&good_cert, &good_key)), None, "/-/healthy");
    assert_eq!(r.as_ref().map(|r| r.0), Ok(200), "{r:?}");
    assert!(https_get(&exp.addr, &ca, None, None, "/-/healthy").is_err(), "served without a client certificate");
    let (bad_cert, bad_key) = (dir.join("intruder.pem"), dir.join("intruder.key"));
    assert!(
        https_get(&exp.addr, &ca, Some((&bad_cert, &bad_key)), None, "/-/healthy").is_err(),
        "served a client certificate from an unknown CA"
    );
    drop(exp);
    let _ = std::fs::remove_dir_all(dir);
}

/// A reload (SIGHUP) swaps users and the certificate; one that would turn TLS off is refused until a restart.
#[test]
fn reload_swaps_users_and_certificate() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    let sim = Sim::start("10.4", &[]);
    let web_file = |user: &str, pw: &str, cert: &str| {
        format!(
            "tls_server_config:\n  cert_file: {cert}.pem\n  key_file: {cert}.key\nbasic_auth_users:\n  {user}: '{}'\n",
            bcrypt_hash(pw)
        )
    };
    let exp = start(&sim, &dir, &web_file("alice", "first-password", "srv"), &["first-password", "second-password"]);
    let ca = dir.join("ca.pem");
    let status = |user: &str, pw: &str| https_get(&exp.addr, &ca, None, Some((user, pw)), "/-/healthy").map(|r| r.0);
    assert_eq!(status("alice", "first-password"), Ok(200));

    // New user and password, and a new certificate from the same CA.
    common::certs::sign(&dir, "srv2", "ca", "/CN=127.0.0.1", "san.ext");
    std::fs::write(dir.join("web.yaml"), web_file("bob", "second-password", "srv2")).unwrap();
    exp.signal("-HUP");
    wait_for(Duration::from_secs(10), "the new user to be accepted", || {
        (status("bob", "second-password") == Ok(200)).then_some(())
    });
    assert_eq!(status("alice", "first-password"), Ok(401), "the old user still works after the reload");
    let log = exp.log_text();
    assert!(log.contains("TLS certificate") && log.contains("basic_auth_users"), "{log}");

    // Turning TLS off needs a restart: the reload fails and names the fix; the running settings stay.
    std::fs::write(dir.join("web.yaml"), "basic_auth_users: {}\n").unwrap();
    exp.signal("-HUP");
    let log = wait_for(Duration::from_secs(10), "the refused reload", || {
        let log = exp.log_text();
        log.contains("turning TLS off needs a restart").then_some(log)
    });
    assert!(log.contains("systemctl restart"), "{log}");
    assert_eq!(status("bob", "second-password"), Ok(200));
    let body = https_get(&exp.addr, &ca, None, Some(("bob", "second-password")), "/metrics").unwrap().2;
    assert!(body.contains("nbu_exporter_config_last_reload_successful 0"), "{body}");
    drop(exp);
    let _ = std::fs::remove_dir_all(dir);
}

/// Bad web config files stop the start (and `--check-config`) with the key and the fix; a certificate without
/// subjectAltName is warned about.
#[test]
fn web_config_errors_name_the_key() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    make_ca(&dir, "other");
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, "nbuservers:\n  - {host: 127.0.0.1, apiKey: test-key}\n").unwrap();
    // Runs the exporter with `mode` (--check-config or --config.file) and `web_yaml` as its web config file.
    let run = |mode: &str, web_yaml: &str| {
        std::fs::write(dir.join("web.yaml"), web_yaml).unwrap();
        let out = Command::new(common::exporter_bin())
            .arg(mode)
            .arg(&cfg)
            .arg("--web.config.file")
            .arg(dir.join("web.yaml"))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let check = |web_yaml: &str| run("--check-config", web_yaml);
    let cases = [
        ("tls_server_config:\n  cert_file: srv.pem\n  key_file: other.key\n", "key_file does not belong to cert_file"),
        ("tls_server_config:\n  cert_file: missing.pem\n  key_file: srv.key\n", "tls_server_config.cert_file"),
        ("basic_auth_users:\n  prometheus: secret\n", "basic_auth_users.prometheus: not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: srv.pem\n  key_file: srv.key\n  min_version: TLS11\n", "TLS12 or TLS13"),
        (
            "tls_server_config:\n  cert_file: srv.pem\n  key_file: srv.key\n  client_ca_file: ca.pem\n",
            "set client_auth_type: RequireAndVerifyClientCert",
        ),
        ("tls_config:\n  cert_file: srv.pem\n", "unknown field `tls_config`"),
    ];
    for (yaml, want) in cases {
        let (code, out) = check(yaml);
        assert_eq!(code, Some(1), "{yaml}: {out}");
        assert!(out.contains(want), "{yaml}: wanted {want:?} in:\n{out}");
    }
    let (code, out) = check("tls_server_config:\n  cert_file: nosan.pem\n  key_file: nosan.key\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no subjectAltName") && out.contains("subjectAltName=DNS:"), "{out}");
    // And the service itself refuses to start on a bad file.
    let (code, out) = run("--config.file", "basic_auth_users:\n  prometheus: secret\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not started"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The request head is capped (431) and must arrive within one I/O timeout as a whole: a client that trickles
/// header bytes cannot hold a connection open by sending one byte just before each socket timeout.
#[test]
fn request_head_limits() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config("  connectionTimeout: 1s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let send = |head: &str| {
        let mut s = TcpStream::connect(&exp.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let normal =
        format!("GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n", "a".repeat(4000));
    assert!(send(&normal).starts_with("HTTP/1.1 200"), "a 4 KB head was refused");
    let huge =
        format!("GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n", "a".repeat(20_000));
    let out = send(&huge);
    assert!(out.starts_with("HTTP/1.1 431"), "a 20 KB head got: {:?}", out.lines().next());

    // Slowloris: one header byte every 300 ms never trips a 1 s socket timeout, but the head deadline does.
    let mut s = TcpStream::connect(&exp.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\n").unwrap();
    let closed = loop {
        std::thread::sleep(Duration::from_millis(300));
        if s.write_all(b"X").is_err() || started.elapsed() > Duration::from_secs(8) {
            break started.elapsed();
        }
        let mut probe = [0u8; 64];
        s.set_nonblocking(true).unwrap();
        let r = s.read(&mut probe);
        s.set_nonblocking(false).unwrap();
        if matches!(r, Ok(0) | Ok(_)) {
            break started.elapsed();
        }
    };
    assert!(closed < Duration::from_secs(4), "a trickling client kept its connection for {closed:?}");
}
