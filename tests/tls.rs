//! HTTPS to NetBackup: a CA from `caFile` is trusted, an unknown CA is refused with a fix in the message,
//! `insecureSkipVerify` works and is warned about, and a certificate without subjectAltName is explained.
//! A small TLS terminator (rustls) in front of the simulator plays the NetBackup web service's TLS side.

mod common;

use common::{config, wait_for, Exporter, Sim};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA, a server certificate for 127.0.0.1 signed by it, and one without subjectAltName.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=nbu-test-ca",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    std::fs::write(dir.join("nosan.ext"), "basicConstraints=CA:FALSE\n").unwrap();
    for (name, ext) in [("srv", "san.ext"), ("nosan", "nosan.ext")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
}

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
