//! Test harness: spawns the real `nbu-sim` and `nbu_exporter` binaries on loopback and talks HTTP to them.
#![allow(dead_code)]

pub mod certs;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The exporter under test: `$NBU_EXPORTER_BIN` (e.g. the static release build in CI) or cargo's debug build.
pub fn exporter_bin() -> String {
    std::env::var("NBU_EXPORTER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nbu_exporter").to_string())
}

/// The simulator: `$NBU_SIM_BIN` or cargo's debug build.
pub fn sim_bin() -> String {
    std::env::var("NBU_SIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nbu-sim").to_string())
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("nbu-exporter-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// Polls `f` every 100 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into()
}

/// GET `url`; returns status, content type and body.
pub fn get(url: &str) -> (u16, String, String) {
    let mut resp = agent().get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), ct, body)
}

/// POST `url` with an empty body; returns status, content type and body.
pub fn post(url: &str) -> (u16, String, String) {
    let mut resp = agent().post(url).send_empty().unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), ct, body)
}

/// Collects a child's output lines in the background.
fn capture(stream: impl std::io::Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

pub struct Sim {
    child: Child,
    pub addr: String,
}

impl Sim {
    pub fn start(release: &str, extra: &[&str]) -> Sim {
        Self::start_at("127.0.0.1:0", release, extra)
    }

    /// A simulator on a given address (e.g. the port of one that was stopped: NetBackup's web service restarting).
    pub fn start_at(listen: &str, release: &str, extra: &[&str]) -> Sim {
        let mut cmd = Command::new(sim_bin());
        cmd.args(["--listen", listen, "--release", release, "--api-key", "test-key"]);
        cmd.args(["--jobs-per-hour", "1200", "--old-jobs", "300", "--future", "120"]);
        cmd.args(extra);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn nbu-sim");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("sim stdout")).read_line(&mut first).expect("sim banner");
        let addr = first.trim().rsplit(' ').next().expect("sim address").to_string();
        Sim { child, addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("sim port")
    }

    pub fn control(&self, q: &str) {
        let (status, _, body) = get(&format!("http://{}/_sim/control?{q}", self.addr));
        assert_eq!(status, 200, "control {q}: {body}");
    }

    pub fn truth(&self) -> Value {
        serde_json::from_str(&get(&format!("http://{}/_sim/truth", self.addr)).2).expect("truth json")
    }

    pub fn stats(&self) -> BTreeMap<String, u64> {
        serde_json::from_str(&get(&format!("http://{}/_sim/stats", self.addr)).2).expect("stats json")
    }

    /// A `nbuservers:` entry pointing at this simulator.
    pub fn site(&self, name: &str, key: &str, extra: &str) -> String {
        let timeout = if extra.contains("requestTimeout") { "" } else { "    requestTimeout: 5s\n" };
        format!(
            "  - site: {name}\n    scheme: http\n    host: 127.0.0.1\n    port: {}\n    apiKey: \"{key}\"\n{timeout}{extra}",
            self.port()
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Exporter {
    pub child: Child,
    pub addr: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub dir: PathBuf,
    /// API keys this exporter was given; none may ever appear in its output (checked on drop).
    pub secrets: Vec<String>,
}

/// The API keys in a config text (`apiKey: value`) and in `*KEY*` environment variables, long enough to search for.
fn secrets_of(config_yaml: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = config_yaml
        .split("apiKey:")
        .skip(1)
        .filter_map(|rest| {
            let v = rest.trim_start().split(['\n', ',', '}']).next()?.trim().trim_matches('"');
            (!v.starts_with("${")).then(|| v.to_string())
        })
        .collect();
    out.extend(env.iter().filter(|(k, _)| k.contains("KEY")).map(|(_, v)| v.to_string()));
    out.retain(|s| s.len() >= 6);
    out
}

/// A config with the given server settings and site entries.
pub fn config(server: &str, sites: &[String]) -> String {
    format!("server:\n{server}nbuservers:\n{}", sites.join(""))
}

impl Exporter {
    pub fn start(config_yaml: &str) -> Exporter {
        Self::start_with(config_yaml, &[], &[])
    }

    pub fn start_with(config_yaml: &str, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let dir = scratch_dir();
        let path = dir.join("config.yaml");
        std::fs::write(&path, config_yaml).expect("write config");
        Self::start_at(dir, &path, config_yaml, args, env)
    }

    /// Starts with an existing config file `path` (inside `dir`, which the exporter's drop removes).
    pub fn start_at(
        dir: PathBuf,
        path: &std::path::Path,
        config_yaml: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        let mut cmd = Command::new(exporter_bin());
        cmd.arg("--config.file").arg(path).args(["--web.listen-address", "127.0.0.1:0", "--log.level", "debug"]);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn nbu_exporter");
        let logs = Arc::new(Mutex::new(Vec::new()));
        capture(child.stderr.take().expect("stderr"), logs.clone());
        let l2 = logs.clone();
        let addr = wait_for(Duration::from_secs(10), "the exporter to listen", || {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!("nbu_exporter exited with {status}:\n{}\nconfig:\n{config_yaml}", l2.lock().unwrap().join("\n"));
            }
            let logs = l2.lock().unwrap();
            logs.iter()
                .find_map(|l| {
                    l.split("listening on ").nth(1).and_then(|r| r.split([',', ' ']).next()).map(str::to_string)
                })
                .map(|a| a.trim_start_matches("http://").trim_start_matches("https://").to_string())
        });
        let secrets = secrets_of(config_yaml, env);
        Exporter { child, addr, logs, dir, secrets }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn scrape(&self) -> Metrics {
        let (status, ct, body) = get(&self.url("/metrics"));
        assert_eq!(status, 200);
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        Metrics::parse(&body)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until the exporter finished its first collection of every site.
    pub fn wait_ready(&self) {
        wait_for(Duration::from_secs(30), "/-/ready", || (get(&self.url("/-/ready")).0 == 200).then_some(()));
    }

    /// Waits until `site`'s `source` has completed `n` more successful collections than now.
    pub fn wait_collections(&self, site: &str, source: &str, n: usize) {
        let mut seen = self.scrape().get("nbu_last_scrape_timestamp_seconds", &[("site", site), ("source", source)]);
        let mut left = n;
        wait_for(Duration::from_secs(30), "more collections", || {
            let now = self.scrape().get("nbu_last_scrape_timestamp_seconds", &[("site", site), ("source", source)]);
            if now != seen && now.is_some() {
                seen = now;
                left -= 1;
            }
            (left == 0).then_some(())
        });
    }

    /// The exporter's start in epoch ms, as it logged it: jobs that finished earlier are not counted.
    pub fn counting_since(&self) -> i64 {
        let line = wait_for(Duration::from_secs(10), "the counting-start log line", || {
            self.logs.lock().unwrap().iter().find(|l| l.contains("counting jobs that finish at or after")).cloned()
        });
        let ts = line.split("at or after ").nth(1).and_then(|r| r.split(' ').next()).expect("timestamp");
        nbu_exporter::netbackup::time::parse_timestamp(ts).unwrap_or_else(|| panic!("bad timestamp in {line:?}"))
    }

    /// The config file the exporter was started with (by `start`/`start_with`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    /// `nbu_exporter_config_reloads_total{trigger,result}`, 0 when absent.
    pub fn reloads(&self, trigger: &str, result: &str) -> f64 {
        self.scrape()
            .get("nbu_exporter_config_reloads_total", &[("trigger", trigger), ("result", result)])
            .unwrap_or(0.0)
    }

    /// Waits for the process to exit, failing after `bound`; returns its exit code.
    pub fn wait_exit(&mut self, started: Instant, bound: Duration) -> Option<i32> {
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(200)); // let the log reader catch up
                return s.code();
            }
            assert!(started.elapsed() < bound, "no exit within {bound:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill").success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // The landing page (site URLs, last errors) must not show a key either.
        let page = (!std::thread::panicking())
            .then(|| agent().get(&self.url("/")).call().ok())
            .flatten()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        for s in &self.secrets {
            assert!(!page.contains(s.as_str()), "an API key appeared on the landing page:\n{page}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            std::thread::sleep(Duration::from_millis(50));
            let log = self.log_text();
            for s in &self.secrets {
                assert!(!log.contains(s.as_str()), "an API key appeared in the exporter's output:\n{log}");
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition page.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    pub text: String,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((n, rest)) => (n.to_string(), parse_labels(rest.strip_suffix('}').expect("closing brace"))),
            };
            samples.push(Sample { name, labels, value });
        }
        Metrics { samples, text: text.to_string() }
    }

    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The value of the one series of `name` whose labels include `want`.
    pub fn get(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let hits: Vec<_> = self
            .all(name)
            .into_iter()
            .filter(|s| want.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect();
        assert!(hits.len() <= 1, "{name} {want:?} matches {} series", hits.len());
        hits.first().map(|s| s.value)
    }

    /// name → (labels without `site`) → value, for one site.
    pub fn by_labels(&self, name: &str, site: &str) -> BTreeMap<Vec<(String, String)>, f64> {
        self.all(name)
            .into_iter()
            .filter(|s| s.labels.get("site").map(String::as_str) == Some(site))
            .map(|s| {
                let key = s.labels.iter().filter(|(k, _)| *k != "site").map(|(k, v)| (k.clone(), v.clone())).collect();
                (key, s.value)
            })
            .collect()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label value must be quoted in {s:?}");
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some(o) => v.push(o),
                    None => break,
                },
                '"' => break,
                c => v.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), v);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// Labels as the test's expectation maps key them.
pub fn key(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    v
}

type Map = BTreeMap<Vec<(String, String)>, f64>;

#[derive(Default, Debug)]
pub struct Expected {
    pub count: Map,
    pub bytes: Map,
    pub status: Map,
    pub files: Map,
    pub state: Map,
    pub queued: Map,
    /// `nbu_jobs_finished_total`: jobs that finished at or after the exporter's start; label sets of jobs that
    /// finished before it (the baseline) at 0.
    pub finished: Map,
    /// `nbu_jobs_transferred_bytes_total`, likewise.
    pub finished_bytes: Map,
}

/// Finished-job counts per label set (without `site`) of the jobs an exporter that started counting at `from` had
/// seen finish by `to`: `endTime` (whole seconds, as NetBackup sends it) at or after `from`, and finished (their
/// last update, to the millisecond) by `to`.
pub fn finished_between(truth: &Value, from: i64, to: i64) -> BTreeMap<Vec<(String, String)>, f64> {
    let mut out = BTreeMap::new();
    for j in truth["jobs"].as_array().unwrap().iter().filter(|j| j["state"] == "DONE") {
        let (end, done_at) = (j["endTimeMs"].as_i64().unwrap(), j["lastUpdateMs"].as_i64().unwrap());
        if end >= from && done_at <= to {
            let status = j["status"].as_i64().unwrap().to_string();
            let k = key(&[
                ("action", j["jobType"].as_str().unwrap()),
                ("policy_type", j["policyType"].as_str().unwrap()),
                ("status", &status),
            ]);
            *out.entry(k).or_default() += 1.0;
        }
    }
    out
}

pub fn nonzero(m: BTreeMap<Vec<(String, String)>, f64>) -> BTreeMap<Vec<(String, String)>, f64> {
    m.into_iter().filter(|(_, v)| *v != 0.0).collect()
}

/// The job states every action in the window reports, at 0 when no job is in them.
pub const STATES: [&str; 6] = ["QUEUED", "ACTIVE", "REQUEUED", "DONE", "SUSPENDED", "INCOMPLETE"];

/// What the metrics must say, computed independently from the simulator's raw job list, for an exporter that
/// started counting at `since_ms`.
pub fn expected(truth: &Value, window_ms: i64, since_ms: i64) -> Expected {
    let now = truth["nowMs"].as_i64().unwrap();
    let mut e = Expected::default();
    for j in truth["jobs"].as_array().unwrap() {
        let action = j["jobType"].as_str().unwrap();
        let ptype = j["policyType"].as_str().unwrap();
        let state = j["state"].as_str().unwrap();
        let end = j["endTimeMs"].as_i64().unwrap();
        let done_in_window = state == "DONE" && end >= now - window_ms;
        if state != "DONE" || done_in_window {
            *e.state.entry(key(&[("action", action), ("state", state)])).or_default() += 1.0;
        }
        if state == "QUEUED" {
            let reason = j["jobQueueReason"].as_i64().unwrap().to_string();
            *e.queued.entry(key(&[("action", action), ("reason", &reason)])).or_default() += 1.0;
        }
        if done_in_window {
            assert!(j["status"].is_i64(), "DONE jobs carry a status: {j}");
            let status = j["status"].as_i64().unwrap().to_string();
            let k = key(&[("action", action), ("policy_type", ptype), ("status", &status)]);
            *e.count.entry(k.clone()).or_default() += 1.0;
            *e.bytes.entry(k).or_default() += j["kilobytesTransferred"].as_f64().unwrap() * 1024.0;
            *e.status.entry(key(&[("action", action), ("status", &status)])).or_default() += 1.0;
            *e.files.entry(key(&[("action", action), ("policy_type", ptype)])).or_default() +=
                j["numberOfFiles"].as_f64().unwrap();
            let k = key(&[("action", action), ("policy_type", ptype), ("status", &status)]);
            let (n, b) = (e.finished.entry(k.clone()).or_default(), e.finished_bytes.entry(k).or_default());
            if end >= since_ms {
                *n += 1.0;
                *b += j["kilobytesTransferred"].as_f64().unwrap() * 1024.0;
            }
        } else {
            assert!(state == "DONE" || j["status"].is_null(), "unfinished jobs have no status: {j}");
        }
    }
    let actions: Vec<String> =
        e.state.keys().filter_map(|k| k.iter().find(|(n, _)| n == "action").map(|(_, v)| v.clone())).collect();
    for action in actions {
        for state in STATES {
            e.state.entry(key(&[("action", &action), ("state", state)])).or_default();
        }
    }
    e
}

/// Raises this test process's soft open-files limit to its hard limit (a flood test opens thousands of sockets).
pub fn raise_own_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on a valid, owned rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

impl Exporter {
    /// Like `start_with`, with the exporter's RLIMIT_NOFILE (soft and hard, as `ulimit -n`) set to `nofile`.
    pub fn start_limited(config_yaml: &str, args: &[&str], nofile: u64) -> Exporter {
        use std::os::unix::process::CommandExt;
        let dir = scratch_dir();
        let path = dir.join("config.yaml");
        std::fs::write(&path, config_yaml).expect("write config");
        let mut cmd = Command::new(exporter_bin());
        cmd.arg("--config.file").arg(&path).args(["--web.listen-address", "127.0.0.1:0", "--log.level", "debug"]);
        cmd.args(args);
        // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: nofile as libc::rlim_t, rlim_max: nofile as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn nbu_exporter");
        let logs = Arc::new(Mutex::new(Vec::new()));
        capture(child.stderr.take().expect("stderr"), logs.clone());
        let l2 = logs.clone();
        let addr = wait_for(Duration::from_secs(10), "the exporter to listen", || {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!("nbu_exporter exited with {status}:\n{}", l2.lock().unwrap().join("\n"));
            }
            let logs = l2.lock().unwrap();
            logs.iter()
                .find_map(|l| l.split("listening on ").nth(1).and_then(|r| r.split([',', ' ']).next()))
                .map(|a| a.trim_start_matches("http://").trim_start_matches("https://").to_string())
        });
        let secrets = secrets_of(config_yaml, &[]);
        Exporter { child, addr, logs, dir, secrets }
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}
