//! HTTPS to NetBackup: a CA from `caFile` is trusted, an unknown CA is refused with a fix in the message,
//! `insecureSkipVerify` works and is warned about, and every TLS failure (wrong host, no subjectAltName, a CA:TRUE
//! certificate as the server's) is explained with its own fix.
//! A small TLS terminator (rustls) in front of the simulator plays the NetBackup web service's TLS side.

mod common;

use common::certs::make_certs;
use common::{config, wait_for, Exporter, Sim};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Terminates TLS with `cert`/`key` and forwards each request (one per connection) to `backend`.
fn tls_front(dir: &Path, name: &str, backend: String) -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("{name}.pem"))).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let (config, backend) = (config.clone(), backend.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, sock);
                let mut head = Vec::new();
                {
                    let mut r = BufReader::new(&mut tls);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return; // handshake refused by the client, or it hung up
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if !line.to_ascii_lowercase().starts_with("connection:") {
                            head.extend_from_slice(line.as_bytes());
                        }
                    }
                }
                head.extend_from_slice(b"Connection: close\r\n\r\n");
                let mut up = TcpStream::connect(&backend).unwrap();
                up.write_all(&head).unwrap();
                let mut resp = Vec::new();
                up.read_to_end(&mut resp).unwrap();
                let _ = tls.write_all(&resp);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

fn site(name: &str, port: u16, extra: &str) -> String {
    format!("  - site: {name}\n    scheme: https\n    host: 127.0.0.1\n    port: {port}\n    apiKey: test-key\n    requestTimeout: 5s\n{extra}")
}

#[test]
fn tls_verification_ca_file_and_skip_verify() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    let sim = Sim::start("10.4", &["--jobs-per-hour", "300", "--old-jobs", "50"]);
    let good = tls_front(&dir, "srv", sim.addr.clone());
    let nosan = tls_front(&dir, "nosan", sim.addr.clone());
    let ca = dir.join("ca.pem");
    let ca_line = format!("    caFile: {}\n", ca.display());
    let exp = Exporter::start(&config(
        "  collectionInterval: 2s\n",
        &[
            site("trusted", good, &ca_line),
            site("untrusted", good, ""),
            site("skip", good, "    insecureSkipVerify: true\n"),
            site("nosan", nosan, &ca_line),
        ],
    ));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "trusted")]), Some(1.0), "{}", exp.log_text());
    assert_eq!(m.get("nbu_up", &[("site", "skip")]), Some(1.0), "{}", exp.log_text());
    assert_eq!(m.get("nbu_up", &[("site", "untrusted")]), Some(0.0));
    assert_eq!(m.get("nbu_up", &[("site", "nosan")]), Some(0.0));
    assert!(m.get("nbu_exporter_jobs_in_store", &[("site", "trusted")]).is_some_and(|n| n > 0.0));
    let log = wait_for(Duration::from_secs(5), "TLS errors in the log", || {
        let log = exp.log_text();
        (log.contains("site untrusted: jobs collection failed") && log.contains("site nosan: jobs collection failed"))
            .then_some(log)
    });
    let line = |site: &str| {
        log.lines().find(|l| l.contains(&format!("site {site}: jobs collection failed"))).unwrap().to_string()
    };
    assert!(
        line("untrusted").contains("not trusted") && line("untrusted").contains("set caFile:"),
        "{}",
        line("untrusted")
    );
    assert!(line("nosan").contains("subjectAltName"), "{}", line("nosan"));
    assert!(log.contains("site skip: insecureSkipVerify is true"), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The system's CA bundle stays trusted when `caFile` adds another CA (here `$SSL_CERT_FILE` plays the system
/// bundle, as it does for OpenSSL and Go): a NetBackup certificate signed by a CA of the system store verifies
/// with and without an unrelated `caFile`.
#[test]
fn system_roots_plus_ca_file() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    common::certs::make_ca(&dir, "other");
    let sim = Sim::start("10.4", &["--jobs-per-hour", "300", "--old-jobs", "50"]);
    let port = tls_front(&dir, "srv", sim.addr.clone());
    let system = dir.join("ca.pem").display().to_string();
    let other = format!("    caFile: {}\n", dir.join("other.pem").display());
    let exp = Exporter::start_with(
        &config("  collectionInterval: 2s\n", &[site("system", port, ""), site("system-plus-cafile", port, &other)]),
        &[],
        &[("SSL_CERT_FILE", system.as_str())],
    );
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "system")]), Some(1.0), "{}", exp.log_text());
    assert_eq!(m.get("nbu_up", &[("site", "system-plus-cafile")]), Some(1.0), "{}", exp.log_text());
    drop(exp);
    // Without the CA in the system bundle, the unrelated caFile alone does not make it trusted.
    let empty = dir.join("other.pem").display().to_string();
    let exp = Exporter::start_with(
        &config("  collectionInterval: 2s\n", &[site("cafile-only", port, &other)]),
        &[],
        &[("SSL_CERT_FILE", empty.as_str())],
    );
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "cafile-only")]), Some(0.0));
    let _ = std::fs::remove_dir_all(dir);
}

/// Each TLS failure names its real cause and the fix: an unknown CA, a host name the certificate does not list, a
/// certificate without subjectAltName, and a self-signed CA certificate used directly as the server's.
#[test]
fn tls_errors_name_the_cause_and_the_fix() {
    let dir = common::scratch_dir();
    make_certs(&dir);
    std::fs::write(dir.join("wrong.ext"), "subjectAltName=DNS:elsewhere.example\n").unwrap();
    common::certs::sign(&dir, "wrong", "ca", "/CN=elsewhere.example", "wrong.ext");
    common::certs::self_signed(&dir, "selfca", true);
    common::certs::self_signed(&dir, "selfleaf", false);
    let sim = Sim::start("10.4", &["--jobs-per-hour", "300", "--old-jobs", "50"]);
    let ca_line = |name: &str| format!("    caFile: {}\n", dir.join(format!("{name}.pem")).display());
    let sites = [
        ("unknown", tls_front(&dir, "srv", sim.addr.clone()), String::new()),
        ("wrongname", tls_front(&dir, "wrong", sim.addr.clone()), ca_line("ca")),
        ("nosan", tls_front(&dir, "nosan", sim.addr.clone()), ca_line("ca")),
        ("selfca", tls_front(&dir, "selfca", sim.addr.clone()), ca_line("selfca")),
        ("selfleaf", tls_front(&dir, "selfleaf", sim.addr.clone()), ca_line("selfleaf")),
    ];
    let yaml: Vec<String> = sites.iter().map(|(n, p, extra)| site(n, *p, extra)).collect();
    let exp = Exporter::start(&config("  collectionInterval: 2s\n", &yaml));
    exp.wait_ready();
    let log = wait_for(Duration::from_secs(10), "TLS errors in the log", || {
        let log = exp.log_text();
        sites
            .iter()
            .filter(|(n, _, _)| *n != "selfleaf")
            .all(|(n, _, _)| log.contains(&format!("site {n}: jobs collection failed")))
            .then_some(log)
    });
    let line = |site: &str| {
        log.lines()
            .find(|l| l.contains(&format!("site {site}: jobs collection failed")))
            .unwrap_or_default()
            .to_string()
    };
    let (unknown, wrong, nosan, selfca) = (line("unknown"), line("wrongname"), line("nosan"), line("selfca"));
    assert!(unknown.contains("not trusted") && unknown.contains("set caFile:"), "{unknown}");
    // Not a trust problem: no caFile hint, but the host name and what the certificate lists instead.
    assert!(wrong.contains("not valid for this host") && wrong.contains("elsewhere.example"), "{wrong}");
    assert!(!wrong.contains("set caFile"), "{wrong}");
    assert!(nosan.contains("no subjectAltName") && !nosan.contains("set caFile"), "{nosan}");
    assert!(selfca.contains("CA:TRUE") && selfca.contains("CA:FALSE") && !selfca.contains("set caFile"), "{selfca}");
    // A self-signed CA:FALSE certificate given as caFile is trusted (documented in the README).
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "selfleaf")]), Some(1.0), "{log}");
    for n in ["unknown", "wrongname", "nosan", "selfca"] {
        assert_eq!(m.get("nbu_up", &[("site", n)]), Some(0.0), "{n}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
