//! `make bench`: the exporter's performance targets (issue #6) measured against the simulator, printed as one
//! table with pass/fail and written to BENCHMARKS.md. Uses `$NBU_EXPORTER_BIN`/`$NBU_SIM_BIN` (the static binaries
//! `make bench` builds) or cargo's release builds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Storage units added to the simulator's five so the exposition holds about 5 000 series.
const EXTRA_STORAGE_UNITS: &str = "740";
const MIB: f64 = 1024.0 * 1024.0;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin(env: &str, built: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| built.to_string())
}

/// Starts the simulator; returns it and its port.
fn sim(args: &[&str]) -> (Kill, u16) {
    let mut child = Command::new(bin("NBU_SIM_BIN", env!("CARGO_BIN_EXE_nbu-sim")))
        .args(["--listen", "127.0.0.1:0", "--api-key", "bench-key"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nbu-sim");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("sim banner");
    let port = banner.trim().rsplit(':').next().and_then(|p| p.parse().ok()).expect("sim port");
    (Kill(child), port)
}

struct Exp {
    _child: Kill,
    addr: String,
    pid: u32,
    started: Instant,
    _dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the exporter with `server` settings and one site on `port` (`site_extra` is added to the site entry).
fn exporter(port: u16, server: &str, site_extra: &str) -> Exp {
    exporter_with(port, server, site_extra, "")
}

/// [`exporter`] with `tail` (e.g. a `collectors:` block) appended to the config file.
fn exporter_with(port: u16, server: &str, site_extra: &str, tail: &str) -> Exp {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir =
        std::env::temp_dir().join(format!("nbu-bench-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "server:\n{server}nbuservers:\n  - site: bench\n    scheme: http\n    host: 127.0.0.1\n    port: {port}\n    \
             apiKey: bench-key\n{site_extra}{tail}"
        ),
    )
    .expect("write config");
    let started = Instant::now();
    let mut child = Command::new(bin("NBU_EXPORTER_BIN", env!("CARGO_BIN_EXE_nbu_exporter")))
        .arg("--config.file")
        .arg(&cfg)
        .args(["--web.listen-address", "127.0.0.1:0", "--log.level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nbu_exporter");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let child = Kill(child);
    // The listen address is in the startup line, logged at info: read it from /proc instead (no log parsing).
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink());
    });
    let addr = wait(Duration::from_secs(10), || listen_addr(pid)).expect("exporter listening");
    Exp { _child: child, addr, pid, started, _dir: TempDir(dir) }
}

/// The TCP port process `pid` listens on, from /proc/net/tcp and its socket inodes.
fn listen_addr(pid: u32) -> Option<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(3) == Some(&"0A") && f.get(9).is_some_and(|i| inodes.iter().any(|x| x == i))).then(|| {
            let port = u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()?;
            Some(format!("127.0.0.1:{port}"))
        })?
    })
}

fn wait<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

thread_local! {
    /// The client's body buffer, reused so the measurement is the server's work, not the client's allocations.
    static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One GET on `s`; returns (status, body length).
fn fetch(s: &mut TcpStream, path: &str, gzip: bool, close: bool) -> (u16, usize) {
    let enc = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    let conn = if close { "Connection: close\r\n" } else { "" };
    write!(s, "GET {path} HTTP/1.1\r\nHost: bench\r\n{enc}{conn}\r\n").expect("write request");
    // Large reads, as Go's HTTP client does for a body of known length.
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let code = line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut len = 0;
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    BODY.with(|b| {
        let mut body = b.borrow_mut();
        if body.len() < len {
            body.resize(len, 0);
        }
        r.read_exact(&mut body[..len]).expect("body");
    });
    (code, len)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay"); // as Prometheus (Go) and curl do
    s
}

fn ready(addr: &str) -> bool {
    TcpStream::connect(addr).ok().is_some_and(|mut s| fetch(&mut s, "/-/ready", false, true).0 == 200)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// (p50, p99) of `n` scrapes on one keep-alive connection, or on a new connection each.
fn latency(addr: &str, n: usize, gzip: bool, keep_alive: bool) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    let mut s = connect(addr);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        if !keep_alive {
            s = connect(addr);
        }
        let (code, len) = fetch(&mut s, "/metrics", gzip, !keep_alive);
        assert_eq!(code, 200);
        if i >= n / 10 {
            times.push(t.elapsed()); // the first tenth warms up
        }
        bytes = len;
    }
    (percentile(&mut times, 0.5), percentile(&mut times, 0.99), bytes)
}

/// Scrapes per second with `clients` keep-alive clients for `secs`.
fn throughput(addr: &str, clients: usize, secs: u64, gzip: bool) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, stop, done) = (addr.to_string(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut s = connect(&addr);
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(fetch(&mut s, "/metrics", gzip, false).0, 200);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        let _ = th.join();
    }
    done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

/// (VmRSS, VmHWM) in bytes.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
    };
    (kib("VmRSS:").unwrap_or(0.0) * 1024.0, kib("VmHWM:").unwrap_or(0.0) * 1024.0)
}

fn sim_stats(port: u16) -> std::collections::BTreeMap<String, u64> {
    let mut s = connect(&format!("127.0.0.1:{port}"));
    write!(s, "GET /_sim/stats HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").expect("stats request");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_default()
}

fn sim_control(port: u16, q: &str) {
    let mut s = connect(&format!("127.0.0.1:{port}"));
    write!(s, "GET /_sim/control?{q} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").expect("control");
    let _ = s.read_to_end(&mut Vec::new());
}

/// The value of the first sample of `name` on the exporter's page.
fn metric(addr: &str, name: &str) -> Option<f64> {
    let mut s = connect(addr);
    write!(s, "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().find(|l| l.starts_with(name))?.rsplit(' ').next()?.parse().ok()
}

fn series(addr: &str) -> usize {
    let mut s = connect(addr);
    write!(s, "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").expect("scrape");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count())
}

struct Row {
    what: String,
    value: String,
    target: String,
    pass: Option<bool>,
}

fn row(rows: &mut Vec<Row>, what: &str, value: String, target: &str, pass: Option<bool>) {
    let mark = match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "",
    };
    println!("{what:<58} {value:>22}  {target:<12} {mark}");
    rows.push(Row { what: what.into(), value, target: target.into(), pass });
}

/// y-m-d of a Unix time (civil-from-days).
fn date(unix: u64) -> String {
    let z = (unix / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", yoe + era * 400 + i64::from(m <= 2))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next()?.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / MIB);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem:.0} GiB RAM, Linux {}", kernel.trim())
}

/// Median time to encode a page of ~5 000 storage series with the prometheus crate's encoder: paid once per
/// snapshot (a collection, a reload, a process refresh), never by a scrape.
fn encode_cost() -> (usize, Duration) {
    use nbu_exporter::exposition::{Fam, Families, HelpContext, Samples};
    let fams = Families::new(&HelpContext {
        cache_ttl: "5m".into(),
        ttls: vec![],
        job_window: "1h".into(),
        up_window: "1m10s".into(),
    });
    let mut s = Samples::default();
    for i in 0..1000 {
        let name = format!("stu_{i:04}");
        let base = [("site", "dc1"), ("name", name.as_str()), ("type", "PureDisk")];
        s.sample(Fam::DiskBytes, &[base[0], base[1], base[2], ("size", "free")], 1e12);
        s.sample(Fam::DiskBytes, &[base[0], base[1], base[2], ("size", "used")], 2e12);
        s.sample(Fam::DiskCapacity, &base, 3e12);
        s.sample(Fam::StorageMaxJobs, &base, 10.0);
        s.sample(Fam::StorageMaxFragment, &base, 5e10);
    }
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let mut out = Vec::with_capacity(600_000);
            fams.encode(&[&s], &[], &mut out);
            std::hint::black_box(out);
            t.elapsed()
        })
        .collect();
    (5000, percentile(&mut times, 0.5))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it: nothing to test here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // BENCH_ONLY=scrape (or idle, jobs, steady, inventory, size) runs one part, e.g. while tuning; BENCHMARKS.md is written
    // only by a full run.
    let only = std::env::var("BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let mut rows = Vec::new();
    println!("{:<58} {:>22}  {:<12}", "benchmark", "measured", "target");

    // 1. Scrape path: ~5 000 series.
    if run("scrape") {
        let (_sim, port) = sim(&["--extra-storage-units", EXTRA_STORAGE_UNITS]);
        // The simulator's extra units come with as many disk pools (18 series each): off, so the page stays the
        // ~5 000 series the target is stated for.
        let exp =
            exporter_with(port, "  collectionInterval: 1h\n  cacheTTL: 1h\n", "", "collectors:\n  disk_pools: false\n");
        wait(Duration::from_secs(30), || ready(&exp.addr).then_some(())).expect("ready");
        let n = series(&exp.addr);
        let (p50, p99, plain_bytes) = latency(&exp.addr, 3000, false, true);
        let (gp50, gp99, gzip_bytes) = latency(&exp.addr, 3000, true, true);
        let label = format!("{n} series, {} KB ({} KB gzip)", plain_bytes / 1000, gzip_bytes / 1000);
        row(
            &mut rows,
            &format!("scrape p50, keep-alive ({label})"),
            ms(p50),
            "<= 0.2 ms",
            Some(p50.as_secs_f64() <= 0.0002),
        );
        row(&mut rows, "scrape p99, keep-alive", ms(p99), "", None);
        row(&mut rows, "scrape p50, keep-alive, gzip", ms(gp50), "<= 0.2 ms", Some(gp50.as_secs_f64() <= 0.0002));
        row(&mut rows, "scrape p99, keep-alive, gzip", ms(gp99), "", None);
        let (np50, np99, _) = latency(&exp.addr, 1000, false, false);
        let (ngp50, ngp99, _) = latency(&exp.addr, 1000, true, false);
        row(&mut rows, "scrape p50 / p99, new connection", format!("{} / {}", ms(np50), ms(np99)), "", None);
        row(&mut rows, "scrape p50 / p99, new connection, gzip", format!("{} / {}", ms(ngp50), ms(ngp99)), "", None);
        let gz = throughput(&exp.addr, 8, 3, true);
        row(
            &mut rows,
            "scrapes/s, 8 keep-alive clients, gzip (as Prometheus)",
            format!("{gz:.0}"),
            ">= 5000",
            Some(gz >= 5000.0),
        );
        let plain = throughput(&exp.addr, 8, 3, false);
        row(&mut rows, "scrapes/s, 8 keep-alive clients, plain", format!("{plain:.0}"), "", None);
        let (series, took) = encode_cost();
        row(&mut rows, &format!("snapshot encode, {series} series (once per change)"), ms(took), "", None);
    }

    // 2. Idle RSS: one small site after its first collection.
    let idle = if run("idle") || run("jobs") {
        let (_sim, port) = sim(&["--jobs-per-hour", "100", "--old-jobs", "0"]);
        let exp = exporter(port, "", "");
        wait(Duration::from_secs(30), || ready(&exp.addr).then_some(())).expect("ready");
        std::thread::sleep(Duration::from_secs(3));
        let (now, _) = rss(exp.pid);
        row(
            &mut rows,
            "idle RSS (one site, ~100 jobs)",
            format!("{:.2} MiB", now / MIB),
            "<= 4 MiB",
            Some(now <= 4.0 * MIB),
        );
        now
    } else {
        0.0
    };

    // 3. 100 000 jobs in the window (82 000 plans; with their child jobs ~100 000): RSS, and the first collection
    //    at 20 ms per request.
    for (plans, latency_ms, check_time) in [("82000", "0", false), ("8200", "20", true), ("82000", "20", true)] {
        if !run("jobs") {
            break;
        }
        let (_sim, port) = sim(&[
            "--old-jobs",
            plans,
            "--jobs-per-hour",
            "60",
            "--future",
            "60",
            "--latency-ms",
            latency_ms,
            "--workers",
            "32",
        ]);
        let exp = exporter(port, "  scrapingInterval: 6h\n  collectionInterval: 1h\n  cacheTTL: 1h\n", "");
        let took = wait(Duration::from_secs(120), || ready(&exp.addr).then(|| exp.started.elapsed())).expect("ready");
        let requests = sim_stats(port).get("jobs").copied().unwrap_or(0);
        let jobs = metric(&exp.addr, "nbu_exporter_jobs_in_store").unwrap_or(0.0);
        if check_time {
            let big = plans == "82000";
            row(
                &mut rows,
                &format!("first complete collection, {jobs:.0} jobs, 20 ms/request ({requests} job requests)"),
                format!("{:.2} s", took.as_secs_f64()),
                if big { "<= 10 s" } else { "" },
                big.then_some(took.as_secs_f64() <= 10.0),
            );
        } else {
            std::thread::sleep(Duration::from_secs(2));
            let (now, peak) = rss(exp.pid);
            let label = format!("RSS with {jobs:.0} jobs in the window");
            row(&mut rows, &label, format!("{:.1} MiB", now / MIB), "<= 40 MiB", Some(now <= 40.0 * MIB));
            row(&mut rows, "peak RSS during that first (full) load", format!("{:.1} MiB", peak / MIB), "", None);
            let per_job = (now - idle) / jobs.max(1.0);
            row(&mut rows, "memory per stored job ((RSS - idle RSS) / jobs)", format!("{per_job:.0} bytes"), "", None);
        }
    }

    // 4. Steady state: 10 000 jobs/day of churn, a 24 h window holding ~10 000 jobs, polled every 5 s.
    if run("steady") {
        let (_sim, port) = sim(&["--old-jobs", "10000", "--jobs-per-hour", "417"]);
        let exp = exporter(
            port,
            "  scrapingInterval: 24h\n  collectionInterval: 5s\n  cacheTTL: 5m\n",
            "    concurrency: 1\n",
        );
        wait(Duration::from_secs(60), || ready(&exp.addr).then_some(())).expect("ready");
        let first = sim_stats(port);
        let (full_req, full_bytes) =
            (first.get("jobs").copied().unwrap_or(0), first.get("bytes_jobs").copied().unwrap_or(0));
        sim_control(port, "reset_stats=1");
        let secs = 60;
        std::thread::sleep(Duration::from_secs(secs));
        let st = sim_stats(port);
        let per_hour = 3600 / secs;
        let (req, bytes) =
            (st.get("jobs").copied().unwrap_or(0) * per_hour, st.get("bytes_jobs").copied().unwrap_or(0) * per_hour);
        let polls_per_hour = 3600 / 5;
        let (full_req_h, full_bytes_h) = (full_req * polls_per_hour, full_bytes * polls_per_hour);
        row(&mut rows, "steady state, job requests/h (incremental, 5 s interval)", format!("{req}"), "", None);
        row(&mut rows, "steady state, job MB/h (incremental)", format!("{:.1}", bytes as f64 / 1e6), "", None);
        row(&mut rows, "same, refetching the whole window every poll: requests/h", format!("{full_req_h}"), "", None);
        row(
            &mut rows,
            "same, refetching the whole window every poll: MB/h",
            format!("{:.0}", full_bytes_h as f64 / 1e6),
            "",
            None,
        );
        let ratio = req as f64 / full_req_h.max(1) as f64;
        row(
            &mut rows,
            "incremental / full-refetch requests",
            format!("1/{:.0}", 1.0 / ratio.max(1e-9)),
            "<= 1/10",
            Some(ratio <= 0.1),
        );
    }

    // 5. NetBackup load with every collector on (tape too) against a big inventory, at the default TTLs. Measured
    //    for 60 s at a 5 s TTL and interval (12 collections of each source, as in an hour at cacheTTL 5m) and
    //    scaled: the cached sources' count is their hourly count at 5m; jobs poll every minute by default (x5).
    if run("inventory") {
        let (_sim, port) = sim(&[
            "--extra-storage-units",
            "100",
            "--extra-servers",
            "50",
            "--tape-drives",
            "250",
            "--tape-media",
            "1200",
            "--tape-pools",
            "30",
            "--slp-images",
            "600",
            "--jobs-per-hour",
            "417",
        ]);
        let exp = exporter_with(port, "  collectionInterval: 5s\n  cacheTTL: 5s\n", "", "collectors:\n  tape: true\n");
        wait(Duration::from_secs(60), || ready(&exp.addr).then_some(())).expect("ready");
        std::thread::sleep(Duration::from_secs(2));
        sim_control(port, "reset_stats=1");
        std::thread::sleep(Duration::from_secs(60));
        let st = sim_stats(port);
        let get = |k: &str| st.get(k).copied().unwrap_or(0);
        let jobs = get("jobs") * 5;
        let sources = [
            ("storage units", get("storage")),
            ("disk pools", get("disk_pools")),
            ("storage servers", get("storage_servers")),
            ("media servers", get("media_servers")),
            ("SLP backlog", get("slp_images") + get("slps")),
            ("services", get("hosts") + get("services")),
            ("tape", get("tape_drives") + get("tape_media") + get("tape_pools") + get("tape_robots")),
        ];
        let total = jobs + sources.iter().map(|(_, n)| n).sum::<u64>();
        let detail: Vec<String> = sources.iter().map(|(k, n)| format!("{k} {n}")).collect();
        row(
            &mut rows,
            &format!("NetBackup requests/h, every collector, default TTLs (jobs {jobs}, {})", detail.join(", ")),
            format!("{total}"),
            "",
            None,
        );
        let bytes = (get("bytes_jobs") * 5 + get("bytes_other")) as f64 / 1e6;
        row(&mut rows, "NetBackup MB/h, same", format!("{bytes:.1}"), "", None);
    }

    // 6. The shipped binary.
    let exe = bin("NBU_EXPORTER_BIN", env!("CARGO_BIN_EXE_nbu_exporter"));
    let size = std::fs::metadata(&exe).map_or(0, |m| m.len()) as f64;
    let static_build = exe.contains("dist/");
    row(
        &mut rows,
        &format!("binary size ({})", if static_build { "static, dist/nbu_exporter" } else { "cargo release build" }),
        format!("{:.2} MiB", size / MIB),
        "<= 3 MiB",
        Some(size <= 3.0 * MIB),
    );

    if only.is_some() {
        return;
    }
    // BENCHMARKS.md
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut md = format!(
        "# Benchmarks\n\nMeasured by `make bench` (`benches/bench.rs`) on {}, {}.\nThe exporter and simulator are \
         the binaries `make static` builds; both run on the same machine, over loopback.\n\n\
         | Benchmark | Measured | Target | |\n|---|---|---|---|\n",
        date(now),
        machine()
    );
    for r in &rows {
        let mark = match r.pass {
            Some(true) => "pass",
            Some(false) => "**FAIL**",
            None => "",
        };
        md += &format!("| {} | {} | {} | {mark} |\n", r.what, r.value, r.target);
    }
    md += NOTES;
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&out, md).expect("write BENCHMARKS.md");
    let failed = rows.iter().filter(|r| r.pass == Some(false)).count();
    println!("\nwrote {}; {failed} target(s) missed", out.display());
}

const NOTES: &str = "
## How each figure is measured

* **Scrape latency**: one client with `TCP_NODELAY` (as Prometheus and curl set it) and a reused body buffer,
  3 000 scrapes on one keep-alive connection after 300 warm-up ones, then 1 000 on a new connection each. The
  simulator adds storage units until the page holds about 5 000 series. The page is rendered once per snapshot and
  gzip-compressed once per snapshot (at build time once any client asked for it); a scrape writes those shared bytes
  straight to the socket (no copy, no allocation that grows with the page). Plain text is bound by moving 559 KB
  through loopback and sits close to the 0.2 ms target (0.17-0.21 ms over several runs); Prometheus always asks
  for gzip.
* **Throughput**: 8 threads, each scraping on its own keep-alive connection for 3 s; client and server share the
  two cores.
* **Snapshot encode**: the median of 50 encodings of 5 000 storage-unit series (the prometheus crate's
  `TextEncoder`, families merged across parts): the cost paid once per snapshot change, never by a scrape.
* **Idle RSS**: `VmRSS` of the static binary three seconds after its first collection of a small site, no scrapes.
* **100 000 jobs**: the simulator holds 82 000 finished jobs 4-6 h old, about 100 000 with their child jobs (the
  table shows the exporter's own `nbu_exporter_jobs_in_store`), and the window is 6 h. `VmRSS` after the
  first collection and one scrape; `VmHWM` is the peak during that first load. Memory per job is the difference
  to the idle RSS over the job count (the job store keeps a 72-byte record per job in a hash map; no JSON is kept).
* **First collection**: from process start until `/-/ready` answers 200 (jobs and storage collected), with the
  simulator sleeping 20 ms before every answer. With the default `concurrency: 4`, a full job load walks the
  unfinished jobs, then 16 `endTime` slices of the window, four at a time.
* **Steady state**: 10 000 jobs/day of churn (417/h) and a 24 h window holding about 10 000 jobs, polled every 5 s
  with `concurrency: 1`. Incremental polls (`lastUpdateTime ge <watermark>`) are counted for 60 s and scaled to an
  hour; the comparison is the measured cost of one full-window walk (the first load) times the polls per hour.
";
