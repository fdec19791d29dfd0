//! Proxy use is explicit: the environment's HTTP(S)_PROXY is honoured with NO_PROXY, `proxy: none` bypasses it,
//! and `proxy: <url>` sends requests through that proxy.

mod common;

use common::{config, Exporter, Sim};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A minimal forward proxy (absolute-form requests and CONNECT) that records the request lines it saw.
fn forward_proxy(seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                seen.lock().unwrap().push(first.trim().to_string());
                let mut headers = Vec::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                    if !l.to_ascii_lowercase().starts_with("connection:")
                        && !l.to_ascii_lowercase().starts_with("proxy-")
                    {
                        headers.push(l);
                    }
                }
                let mut parts = first.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut client = client;
                if method == "CONNECT" {
                    let mut up = TcpStream::connect(target).unwrap();
                    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
                    let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut u2);
                    });
                    let _ = std::io::copy(&mut up, &mut client);
                    return;
                }
                let rest = target.strip_prefix("http://").unwrap_or(target);
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let mut up = TcpStream::connect(host).unwrap();
                let mut req = format!("{method} {path} HTTP/1.1\r\n");
                headers.iter().for_each(|h| req.push_str(h));
                req.push_str("Connection: close\r\n\r\n");
                up.write_all(req.as_bytes()).unwrap();
                let mut resp = Vec::new();
                up.read_to_end(&mut resp).unwrap();
                let _ = client.write_all(&resp);
            });
        }
    });
    port
}

#[test]
fn environment_proxy_no_proxy_none_and_explicit_proxy() {
    let sim = Sim::start("10.4", &["--jobs-per-hour", "300", "--old-jobs", "50"]);
    let dead_proxy = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = forward_proxy(seen.clone());
    // Same simulator reached as 127.0.0.1 (proxied per environment) and as localhost (exempt through NO_PROXY).
    let as_localhost = sim.site("no-proxy", "test-key", "").replace("host: 127.0.0.1", "host: localhost");
    let yaml = config(
        "  collectionInterval: 2s\n",
        &[
            sim.site("env", "test-key", "    connectTimeout: 2s\n"),
            as_localhost,
            sim.site("none", "test-key", "    proxy: none\n"),
            sim.site("explicit", "test-key", &format!("    proxy: http://127.0.0.1:{proxy}\n")),
        ],
    );
    let exp = Exporter::start_with(
        &yaml,
        &[],
        &[("HTTP_PROXY", &dead_proxy), ("HTTPS_PROXY", &dead_proxy), ("NO_PROXY", "localhost"), ("ALL_PROXY", "")],
    );
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "env")]), Some(0.0), "the environment's proxy is used by default");
    assert_eq!(m.get("nbu_up", &[("site", "no-proxy")]), Some(1.0), "NO_PROXY is honoured");
    assert_eq!(m.get("nbu_up", &[("site", "none")]), Some(1.0), "proxy: none connects directly");
    assert_eq!(m.get("nbu_up", &[("site", "explicit")]), Some(1.0), "{}", exp.log_text());
    let lines = seen.lock().unwrap().clone();
    let target = format!("127.0.0.1:{}", sim.port());
    assert!(
        lines.iter().any(|l| l.contains(&target) && l.contains("/netbackup/admin/jobs"))
            || lines.iter().any(|l| l.starts_with("CONNECT") && l.contains(&target)),
        "{lines:?}"
    );
    let log = exp.log_text();
    assert!(log.contains("site env: polling") && log.contains("(from environment)"), "{log}");
    assert!(log.contains("site none: polling http://127.0.0.1") && log.contains("proxy: direct"), "{log}");
}
