//! `make bench` (minimal until the performance work): scrape latency of the release exporter against the simulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One HTTP/1.1 GET on `stream`; returns the status code and body length.
fn fetch(stream: &mut TcpStream, path: &str, keep_alive: bool) -> (u16, usize) {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: {conn}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (code, len)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it: nothing to test here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut sim = Command::new(env!("CARGO_BIN_EXE_nbu-sim"))
        .args(["--listen", "127.0.0.1:0", "--api-key", "bench"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let _sim = Kill(sim);
    let sim_port = banner.trim().rsplit(':').next().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("nbu-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!("nbuservers:\n  - {{site: bench, scheme: http, host: 127.0.0.1, port: {sim_port}, apiKey: bench}}\n"),
    )
    .unwrap();
    let mut exp = Command::new(env!("CARGO_BIN_EXE_nbu_exporter"))
        .args(["--config.file", cfg.to_str().unwrap(), "--web.listen-address", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(exp.stderr.take().unwrap());
    let _exp = Kill(exp);
    let mut lines = stderr.lines().map_while(Result::ok);
    let addr = lines
        .find_map(|l| l.split("listening on ").nth(1).and_then(|r| r.split(',').next()).map(str::to_string))
        .unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let start = Instant::now();
    while fetch(&mut TcpStream::connect(&addr).unwrap(), "/-/ready", false).0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(60), "exporter never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut ka = Vec::new();
    let mut stream = TcpStream::connect(&addr).unwrap();
    // Prometheus (Go net/http) and curl set TCP_NODELAY on their sockets; a client without it waits ~40 ms per
    // keep-alive request on Nagle + delayed ACK, whatever the server does.
    stream.set_nodelay(true).unwrap();
    let mut size = 0;
    for _ in 0..3000 {
        let t = Instant::now();
        size = fetch(&mut stream, "/metrics", true).1;
        ka.push(t.elapsed());
    }
    let mut fresh = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let mut s = TcpStream::connect(&addr).unwrap();
        fetch(&mut s, "/metrics", false);
        fresh.push(t.elapsed());
    }
    println!("| measurement | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| scrape, keep-alive ({size} bytes) | {:?} | {:?} |",
        percentile(&mut ka, 0.5),
        percentile(&mut ka, 0.99)
    );
    println!("| scrape, new connection | {:?} | {:?} |", percentile(&mut fresh, 0.5), percentile(&mut fresh, 0.99));
    let _ = std::fs::remove_dir_all(dir);
}
