//! Operations: live reload by signal, file edits and HTTP; flushing a moved site; storage TTL; /health;
//! systemd notifications; bounded shutdown; signal storms. All against the real binaries.

mod common;

use common::{config, get, wait_for, Exporter, Sim};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVER: &str = "  collectionInterval: 1s\n";

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_file_name(".config.yaml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn sighup_applies_a_new_key_and_added_site_and_drops_removed_sites() {
    let a = Sim::start("10.4", &[]);
    let b = Sim::start("10.5", &[]);
    let exp = Exporter::start(&config(SERVER, &[a.site("a", "old-key", ""), b.site("gone", "test-key", "")]));
    exp.wait_ready();
    let m = exp.scrape();
    assert_eq!(m.get("nbu_up", &[("site", "a")]), Some(0.0), "wrong key at first");
    assert_eq!(m.get("nbu_up", &[("site", "gone")]), Some(1.0));
    // Edit without the watcher noticing a difference in timing: rewrite in place, then SIGHUP.
    let new = config(SERVER, &[a.site("a", "test-key", ""), b.site("b2", "test-key", "")]);
    std::fs::write(exp.config_path(), &new).unwrap();
    exp.signal("-HUP");
    wait_for(Duration::from_secs(10), "site a up with the new key and b2 collected", || {
        let m = exp.scrape();
        (m.get("nbu_up", &[("site", "a")]) == Some(1.0) && m.get("nbu_up", &[("site", "b2")]) == Some(1.0))
            .then_some(())
    });
    let m = exp.scrape();
    assert!(
        m.samples.iter().all(|s| s.labels.get("site").map(String::as_str) != Some("gone")),
        "removed site's series must go"
    );
    assert_eq!(m.get("nbu_exporter_config_last_reload_successful", &[]), Some(1.0));
    assert!(exp.reloads("signal", "success") + exp.reloads("file", "success") >= 1.0);
    let log = exp.log_text();
    assert!(
        log.contains("site gone removed") && log.contains("site b2 added") && log.contains("site a settings"),
        "{log}"
    );
    assert!(!log.contains("old-key") && !log.contains("test-key"), "keys never logged");
}

#[test]
fn one_file_save_is_one_reload_for_rename_copy_and_symlink_swap() {
    let sim = Sim::start("10.4", &[]);
    // ConfigMap layout: config.yaml -> ..data/config.yaml, ..data -> ..v1
    let dir = common::scratch_dir();
    let v1 = dir.join("..v1");
    std::fs::create_dir(&v1).unwrap();
    let yaml =
        |interval: &str| config(&format!("  collectionInterval: {interval}\n"), &[sim.site("dc1", "test-key", "")]);
    std::fs::write(v1.join("config.yaml"), yaml("1s")).unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yaml", dir.join("config.yaml")).unwrap();
    let path = dir.join("config.yaml");
    let exp = Exporter::start_at(dir.clone(), &path, &yaml("1s"), &[], &[]);
    exp.wait_ready();
    let file_reloads = || exp.reloads("file", "success");
    let expect_one_more = |what: &str, before: f64| {
        let t = Instant::now();
        wait_for(Duration::from_secs(2), what, || (file_reloads() >= before + 1.0).then_some(()));
        assert!(t.elapsed() <= Duration::from_secs(2), "{what} took {:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(file_reloads(), before + 1.0, "{what}: one save must be one reload");
    };

    // 1. Symlink swap, as Kubernetes does it.
    let v2 = dir.join("..v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v2.join("config.yaml"), yaml("2s")).unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    let before = file_reloads();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    expect_one_more("symlink swap", before);

    // 2. Replace the link by a regular file written vim-style: temp file renamed over it.
    let before = file_reloads();
    write_atomically(&path, &yaml("3s"));
    expect_one_more("write-and-rename", before);

    // 3. cp over the file (truncate and write in place).
    let src = dir.join("other.yaml.src");
    std::fs::write(&src, yaml("4s")).unwrap();
    let before = file_reloads();
    std::fs::copy(&src, &path).unwrap();
    expect_one_more("cp", before);

    // Touching without a content change is not a reload.
    let before = file_reloads();
    std::fs::write(&path, yaml("4s")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(file_reloads(), before);
    assert!(exp.log_text().contains("configuration reloaded (file)"));
}

#[test]
fn an_invalid_edit_keeps_the_old_config_and_a_fix_recovers() {
    let sim = Sim::start("10.4", &[]);
    let good = config(SERVER, &[sim.site("dc1", "test-key", "")]);
    let exp = Exporter::start(&good);
    exp.wait_ready();
    assert_eq!(exp.scrape().get("nbu_exporter_config_last_reload_successful", &[]), Some(1.0));
    write_atomically(&exp.config_path(), &good.replace("scheme: http", "scheme: gopher"));
    wait_for(Duration::from_secs(3), "the failed reload", || {
        (exp.scrape().get("nbu_exporter_config_last_reload_successful", &[]) == Some(0.0)).then_some(())
    });
    let log = exp.log_text();
    let line = log.lines().find(|l| l.contains("config reload (file) failed")).unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("keeping the running configuration: nbuservers[0].scheme:") && line.contains("gopher"),
        "{line}"
    );
    // The old config keeps serving fresh data.
    exp.wait_collections("dc1", "jobs", 2);
    assert_eq!(exp.scrape().get("nbu_up", &[("site", "dc1")]), Some(1.0));
    assert_eq!(exp.reloads("file", "failure"), 1.0);
    write_atomically(&exp.config_path(), &good.replace("collectionInterval: 1s", "collectionInterval: 2s"));
    wait_for(Duration::from_secs(3), "the fixed reload", || {
        (exp.scrape().get("nbu_exporter_config_last_reload_successful", &[]) == Some(1.0)).then_some(())
    });
}

#[test]
fn moving_a_site_to_another_server_flushes_its_series() {
    let old = Sim::start("10.4", &["--extra-storage-units", "3"]);
    let new = Sim::start("10.4", &[]);
    let exp =
        Exporter::start_with(&config(SERVER, &[old.site("dc1", "test-key", "")]), &["--web.enable-lifecycle"], &[]);
    exp.wait_ready();
    assert!(exp.scrape().get("nbu_storage_info", &[("name", "stu_extra_0001")]).is_some());
    new.control("freeze=1");
    std::fs::write(exp.config_path(), config(SERVER, &[new.site("dc1", "test-key", "")])).unwrap();
    let (status, _, body) = common::post(&exp.url("/-/reload"));
    assert_eq!(status, 200, "{body}");
    let m = wait_for(Duration::from_secs(10), "the new server's data", || {
        let m = exp.scrape();
        // Jobs and storage are independent sources: wait for both to have rendered the new server.
        let both =
            !m.all("nbu_storage_info").is_empty() && m.get("nbu_exporter_jobs_in_store", &[("site", "dc1")]).is_some();
        (m.get("nbu_up", &[("site", "dc1")]) == Some(1.0) && both).then_some(m)
    });
    assert_eq!(m.get("nbu_storage_info", &[("name", "stu_extra_0001")]), None, "nothing of the old server survives");
    let truth = new.truth();
    let jobs = truth["jobs"].as_array().unwrap().len() as f64;
    let in_store = m.get("nbu_exporter_jobs_in_store", &[("site", "dc1")]).unwrap();
    assert!(in_store <= jobs, "store holds only the new server's jobs ({in_store} > {jobs})");
    assert!(exp.reloads("http", "success") >= 1.0);
    // Without --web.enable-lifecycle the endpoint refuses.
    let plain = Exporter::start(&config(SERVER, &[new.site("x", "test-key", "")]));
    assert_eq!(common::post(&plain.url("/-/reload")).0, 403);
}

#[test]
fn storage_is_fetched_once_per_ttl_while_jobs_are_polled_more_often() {
    let sim = Sim::start("10.4", &[]);
    let exp =
        Exporter::start(&config("  collectionInterval: 1s\n  cacheTTL: 3s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    sim.control("reset_stats=1");
    std::thread::sleep(Duration::from_millis(9200));
    let stats = sim.stats();
    let (storage, jobs) = (stats.get("storage").copied().unwrap_or(0), stats.get("jobs").copied().unwrap_or(0));
    assert!((2..=4).contains(&storage), "storage requests in 9 s with a 3 s TTL: {storage}");
    assert!(jobs >= 7, "jobs polls in 9 s at 1 s: {jobs}");
    assert!(exp.scrape().text.contains("(cached: 3s TTL)"));
}

#[test]
fn health_checks_netbackup_shares_concurrent_calls_and_recovers() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(
        "  collectionInterval: 1h\n  cacheTTL: 1h\n",
        &[sim.site("dc1", "test-key", "    requestTimeout: 30s\n")],
    ));
    exp.wait_ready();
    let (status, _, body) = get(&exp.url("/health"));
    assert_eq!((status, body.as_str()), (200, "site dc1: OK\n"));
    // 100 parallel calls: one shared check, then the reused result.
    std::thread::sleep(Duration::from_millis(2100));
    sim.control("reset_stats=1");
    let ok = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (url, ok) = (exp.url("/health"), ok.clone());
            std::thread::spawn(move || {
                if get(&url).0 == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(ok.load(Ordering::SeqCst), 100);
    let requests: u64 = sim.stats().iter().filter(|(k, _)| !k.starts_with("bytes_")).map(|(_, v)| v).sum();
    assert!(requests <= 5, "100 /health calls caused {requests} NetBackup requests");
    // A hung NetBackup: 503 within about 5 s, naming the site and why.
    std::thread::sleep(Duration::from_millis(2100));
    sim.control("hang_ms=30000");
    let t = Instant::now();
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let url = exp.url("/health");
            std::thread::spawn(move || get(&url))
        })
        .collect();
    // While every health check waits on the hung server, scrapes still answer at once.
    std::thread::sleep(Duration::from_millis(300));
    let scrape = Instant::now();
    assert_eq!(get(&exp.url("/metrics")).0, 200);
    assert!(scrape.elapsed() < Duration::from_secs(1), "scrape took {:?} during health checks", scrape.elapsed());
    for w in waiting {
        let (status, _, body) = w.join().unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("site dc1: FAILED") && body.contains("timed out"), "{body}");
    }
    assert!(t.elapsed() < Duration::from_secs(7), "503 took {:?}", t.elapsed());
    // Liveness is the process only.
    assert_eq!(get(&exp.url("/-/healthy")).0, 200);
    sim.control("hang_ms=0");
    std::thread::sleep(Duration::from_millis(2100));
    wait_for(Duration::from_secs(10), "health to recover", || (get(&exp.url("/health")).0 == 200).then_some(()));
}

fn recv_until(sock: &UnixDatagram, want: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.contains(want) {
                return msg;
            }
            seen.push(msg);
        }
    }
    panic!("no sd_notify message with {want:?}; saw {seen:?}");
}

#[test]
fn systemd_notifications_and_sigterm_during_a_slow_collection() {
    let sim = Sim::start("10.4", &[]);
    let dir = common::scratch_dir();
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut exp = Exporter::start_with(
        &config(SERVER, &[sim.site("dc1", "test-key", "    requestTimeout: 60s\n")]),
        &[],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let ready = recv_until(&sock, "READY=1", Duration::from_secs(10));
    assert!(ready.contains("STATUS="), "{ready}");
    exp.wait_ready();
    exp.signal("-HUP");
    let reloading = recv_until(&sock, "RELOADING=1", Duration::from_secs(5));
    let usec: u64 =
        reloading.lines().find_map(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("MONOTONIC_USEC").parse().unwrap();
    assert!(usec > 0);
    recv_until(&sock, "READY=1", Duration::from_secs(5));
    // Make NetBackup slow, wait until a collection is stuck in it, then SIGTERM.
    sim.control("latency_ms=30000");
    std::thread::sleep(Duration::from_millis(2500));
    let t = Instant::now();
    exp.signal("-TERM");
    recv_until(&sock, "STOPPING=1", Duration::from_secs(5));
    // The documented bound is 5 s (SHUTDOWN_GRACE); allow a little for process start-up noise.
    assert_eq!(exp.wait_exit(t, Duration::from_secs(7)), Some(0));
    assert!(exp.log_text().contains("abandoning them"), "{}", exp.log_text());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_storm_of_sighups_coalesces_and_scrapes_keep_answering() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let scraper = {
        let (url, stop, failures) = (exp.url("/metrics"), stop.clone(), failures.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                if get(&url).0 != 200 {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
            }
            n
        })
    };
    let pid = exp.child.id() as i32;
    for _ in 0..1000 {
        // SAFETY: sending SIGHUP to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let scrapes = scraper.join().unwrap();
    assert!(scrapes > 10 && failures.load(Ordering::SeqCst) == 0, "{scrapes} scrapes, {failures:?} failed");
    let reloads = exp.reloads("signal", "success");
    assert!((1.0..=50.0).contains(&reloads), "1000 SIGHUPs gave {reloads} reloads");
    assert!(exp.child.id() > 0 && get(&exp.url("/-/healthy")).0 == 200);
    exp.wait_collections("dc1", "jobs", 1);
}

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok()))
        .unwrap_or(0)
}

/// True when the server closed `s` (EOF or reset) within `wait`.
fn closed_by_server(s: &std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    let mut reader = s;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 answer before the close
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
        }
    }
}

#[test]
fn idle_and_slow_clients_are_bounded() {
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config("  connectionTimeout: 2s\n", &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let addr = exp.addr.clone();
    let idle: Vec<_> = (0..200).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(get(&exp.url("/metrics")).0, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "scrape took {:?} with 200 idle connections", t.elapsed());
    // After connectionTimeout the server drops them, and their threads go away.
    let closed = idle.iter().filter(|s| closed_by_server(s, Duration::from_secs(4))).count();
    assert!(closed >= 195, "only {closed} of 200 idle connections were closed by the server");
    // tiny_http's pool lets a thread without work exit after 5 s.
    let pid = exp.child.id();
    wait_for(Duration::from_secs(10), "the connection threads to exit", || (threads(pid) < 60).then_some(()));
    drop(idle);
    drop(exp);

    // The cap: connections beyond maxConnections are closed at once, and scrapes work again when load ends.
    let exp = Exporter::start(&config(
        "  maxConnections: 16\n  connectionTimeout: 30s\n",
        &[sim.site("dc1", "test-key", "")],
    ));
    exp.wait_ready();
    let held: Vec<_> = (0..40).map(|_| std::net::TcpStream::connect(&exp.addr).unwrap()).collect();
    let refused = held.iter().filter(|s| closed_by_server(s, Duration::from_millis(500))).count();
    assert!(refused >= 20, "only {refused} of 40 connections beyond the cap of 16 were closed");
    drop(held);
    wait_for(Duration::from_secs(5), "a scrape after the burst", || {
        let ok = std::panic::catch_unwind(|| get(&exp.url("/metrics")).0 == 200).unwrap_or(false);
        ok.then_some(())
    });
}

/// One raw GET on a keep-alive connection: (head, body bytes).
fn raw_get(s: &mut std::net::TcpStream, path: &str, extra: &str) -> (String, Vec<u8>) {
    use std::io::{BufRead, BufReader, Read, Write};
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        head += &line;
        if line == "\r\n" {
            break;
        }
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (head, body)
}

/// `Accept-Encoding: gzip` gets the same exposition compressed (Prometheus always asks for it); `q=0` and other
/// encodings get it plain.
#[test]
fn gzip_exposition_is_the_plain_one_compressed() {
    use std::io::Read;
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let mut s = std::net::TcpStream::connect(&exp.addr).unwrap();
    s.set_nodelay(true).unwrap();
    let same = (0..10).any(|_| {
        let (plain_head, plain) = raw_get(&mut s, "/metrics", "");
        let (gz_head, gz) = raw_get(&mut s, "/metrics", "Accept-Encoding: gzip\r\n");
        assert!(!plain_head.to_ascii_lowercase().contains("content-encoding"), "{plain_head}");
        assert!(gz_head.contains("Content-Encoding: gzip") && gz_head.contains("Vary: Accept-Encoding"), "{gz_head}");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
        assert!(gz.len() * 4 < unzipped.len(), "{} compressed bytes for {}", gz.len(), unzipped.len());
        unzipped == plain // a new snapshot between the two requests makes them differ: try again
    });
    assert!(same, "the gzip body never matched the plain one");
    for refused in ["Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: br, deflate\r\n"] {
        let (head, body) = raw_get(&mut s, "/metrics", refused);
        assert!(!head.to_ascii_lowercase().contains("content-encoding"), "{refused}: {head}");
        assert!(String::from_utf8_lossy(&body).contains("nbu_up{site=\"dc1\"} 1"), "{refused}");
    }
}

/// Keep-alive connections opened at the same instant are each answered. tiny_http's thread pool could leave a
/// connection accepted in the instant a thread was being woken for another without a thread until some other
/// connection closed (vendor/tiny_http/PATCHES.md); bursts while earlier connections stay open caught it.
#[test]
fn simultaneous_new_connections_are_all_answered() {
    use std::io::{BufRead, BufReader, Write};
    let sim = Sim::start("10.4", &[]);
    let exp = Exporter::start(&config(SERVER, &[sim.site("dc1", "test-key", "")]));
    exp.wait_ready();
    let mut open = Vec::new();
    for round in 0..40 {
        let mut burst: Vec<std::net::TcpStream> =
            (0..8).map(|_| std::net::TcpStream::connect(&exp.addr).unwrap()).collect();
        for s in &mut burst {
            s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        }
        for s in &burst {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut line = String::new();
            let read = BufReader::new(s).read_line(&mut line);
            assert!(line.starts_with("HTTP/1.1 200"), "round {round}: a new connection got no answer ({read:?})");
        }
        open.extend(burst); // still open: their threads stay busy, as Prometheus' keep-alive connections do
    }
}
