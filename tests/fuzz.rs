//! Randomised inputs (a small generator, proptest-style, no corpus needed) for the parsers that see untrusted data:
//! NetBackup JSON pages, dates and durations, config files, and the web config file and `Authorization` headers. None may panic. Each target runs for
//! `$FUZZ_SECONDS` (default 1 s in `make test`; `make fuzz` runs 60 s each). A panic prints the input.

use nbu_exporter::config::{duration, parse_str};
use nbu_exporter::netbackup::models::{JobAttributes, Page, StorageUnitAttributes};
use nbu_exporter::netbackup::time::{parse_duration, parse_http_date, parse_timestamp};
use nbu_exporter::web_config::{WebConfig, WebSecurity};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

fn budget() -> Duration {
    Duration::from_secs_f64(std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0))
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
}

/// Mutates `base`: byte flips, deletions, duplications, and splices of "interesting" tokens.
fn mutate(rng: &mut Rng, base: &str, tokens: &[&str]) -> String {
    let mut b = base.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        if b.is_empty() {
            b.extend_from_slice(rng.pick(tokens).as_bytes());
            continue;
        }
        let i = rng.below(b.len());
        match rng.below(5) {
            0 => b[i] = rng.next() as u8,
            1 => {
                let end = (i + 1 + rng.below(16)).min(b.len());
                b.drain(i..end);
            }
            2 => {
                let end = (i + 1 + rng.below(32)).min(b.len());
                let chunk = b[i..end].to_vec();
                b.splice(i..i, chunk);
            }
            _ => {
                let t = rng.pick(tokens).as_bytes().to_vec();
                b.splice(i..i, t);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Runs `f` on generated inputs until the time budget is spent; returns how many ran.
fn run(name: &str, mut gen: impl FnMut(&mut Rng) -> String, f: impl Fn(&str)) -> u64 {
    let s = seed();
    let mut rng = Rng(s);
    let deadline = Instant::now() + budget();
    let mut n = 0;
    while Instant::now() < deadline {
        let input = gen(&mut rng);
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            panic!("{name}: panic on input (seed {s}): {input:?}");
        }
        n += 1;
    }
    eprintln!("fuzz {name}: {n} inputs, no panic");
    n
}

const JOB_PAGE: &str = r#"{"data":[{"type":"job","id":"12","attributes":{"jobId":12,"parentJobId":0,"jobType":"BACKUP","policyType":"VMWARE","state":"DONE","status":0,"kilobytesTransferred":1024,"numberOfFiles":7,"dedupRatio":99.4,"jobQueueReason":-99,"startTime":"2026-07-09T09:19:44.000Z","endTime":"2026-07-09T09:21:00.000Z","lastUpdateTime":"2026-07-09T09:21:01.467Z","elapsedTime":"PT1M16S"},"links":{"self":{"href":"/admin/jobs/12"}},"meta":{"page":{"cursor":"1783588784000:12"}}}],"meta":{"pagination":{"next":"1783588784000:12","limit":10}}}"#;
const STU_PAGE: &str = r#"{"data":[{"type":"storageUnit","id":"stu1","attributes":{"name":"stu1","storageType":"Disk","storageServerType":"PureDisk","storageCategory":"MSDP","freeCapacityBytes":1099511627776,"usedCapacityBytes":5,"totalCapacityBytes":1099511627781,"maxConcurrentJobs":20,"maxFragmentSizeMegabytes":51200,"isCloudSTU":false,"wormCapable":true}}],"meta":{"pagination":{"count":1,"offset":0,"last":0,"limit":500}}}"#;
const JSON_TOKENS: &[&str] = &[
    "null",
    "true",
    "1e309",
    "-1",
    "18446744073709551616",
    "1.5",
    "\"\"",
    "[]",
    "{}",
    "\"x\"",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "\"1970-01-01T00:00:00.000Z\"",
    "\"PT\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

#[test]
fn netbackup_json_pages_never_panic() {
    let n = run(
        "json",
        |r| {
            let base = if r.below(2) == 0 { JOB_PAGE } else { STU_PAGE };
            mutate(r, base, JSON_TOKENS)
        },
        |s| {
            let _ = serde_json::from_str::<Page<JobAttributes>>(s);
            let _ = serde_json::from_str::<Page<StorageUnitAttributes>>(s);
        },
    );
    assert!(n > 100);
}

#[test]
fn dates_and_durations_never_panic() {
    let seeds = [
        "2026-07-09T09:43:18.657Z",
        "PT1M11.214S",
        "P1DT2H",
        "01:02:03",
        "2 01:00:00",
        "Thu, 09 Jul 2026 09:43:18 GMT",
        "1h30m",
        "250ms",
    ];
    let tokens =
        ["9", "99999999999999999999", ".", ":", "-", "+", "T", "Z", "P", "S", "M", "H", "D", " ", "é", "\u{0}"];
    let gen = |r: &mut Rng| {
        let base = seeds[r.below(seeds.len())];
        mutate(r, base, &tokens)
    };
    let n = run("time", gen, |s| {
        let _ = parse_timestamp(s);
        let _ = parse_duration(s);
        let _ = parse_http_date(s);
        let _ = duration::parse(s);
    });
    assert!(n > 100);
}

#[test]
fn config_files_never_panic() {
    let base = include_str!("../config.yaml");
    let tokens = [
        "\n",
        ":",
        "- ",
        "  ",
        "{",
        "}",
        "[",
        "]",
        "&a",
        "*a",
        "!!binary",
        "${",
        "${X}",
        "$$",
        "~",
        "null",
        "1e999",
        "nbuservers:",
        "apiKey:",
        "apiKeyFile:",
        "port: 0",
        "scheme:",
        "\"",
        "'",
        "\t",
        "<<: *a",
    ];
    let n = run(
        "config",
        |r| mutate(r, base, &tokens),
        |s| {
            let _ = parse_str(s, &|k| (k == "NBU_API_KEY").then(|| "k".to_string()));
        },
    );
    assert!(n > 20);
}

#[test]
fn web_config_files_and_auth_headers_never_panic() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let base = format!(
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: RequireAndVerifyClientCert\n  \
         client_ca_file: ca.pem\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n\
         basic_auth_users:\n  prometheus: '{hash}'\n"
    );
    let tokens = ["\n", ":", "  ", "{", "}", "[", "]", "'", "\"", "$2y$", "TLS13", "~", "null", "- ", "&a", "*a"];
    let dir = std::path::Path::new("/nonexistent");
    let n = run(
        "web-config",
        |r| mutate(r, &base, &tokens),
        |s| {
            let _ = WebConfig::parse(s, dir);
        },
    );
    assert!(n > 20);
    let users = WebConfig::parse(&format!("basic_auth_users:\n  prometheus: '{hash}'\n"), dir).unwrap();
    let sec = WebSecurity::new(std::path::Path::new("/nonexistent/web.yml"), &users);
    let header_tokens = ["Basic ", "basic", " ", ":", "=", "cHJvbWV0aGV1czpwdw==", "\u{0}", "é", "Bearer x", "////"];
    let n = run(
        "auth-header",
        |r| mutate(r, "Basic cHJvbWV0aGV1czpwdw==", &header_tokens),
        |s| {
            let _ = sec.authorized(Some(s));
        },
    );
    assert!(n > 20);
}
