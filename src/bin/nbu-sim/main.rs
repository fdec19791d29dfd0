//! `nbu-sim`: a NetBackup REST API simulator for demos, integration tests and benchmarks.
//!
//! Serves `/netbackup/ping`, `/netbackup/security/serverinfo`, `/netbackup/admin/jobs` (cursor or offset paging,
//! OData filter subset), `/netbackup/storage/storage-units`, `/netbackup/storage/disk-pools` and the tape endpoints
//! (`tape.rs`) the way a real primary of the chosen release does, with API-key auth and version negotiation. Test
//! hooks under `/_sim/`: `truth` (ground truth; `truth/tape` for the tape inventory), `stats` (request counts) and
//! `control` (latency, failures, hangs, freeze, RBAC, key rotation, listing faults; see `control.rs`).

mod control;
mod disk_pools;
mod jobs;
mod odata;
mod reply;
mod servers;
mod services;
mod slp;
mod tape;
mod world;

use control::Control;
use nbu_exporter::config::ApiVersion;
use nbu_exporter::netbackup::time::now_ms;
use parking_lot::Mutex;
use reply::{error_reply, header, json_reply, offset_list, Reply};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tiny_http::{Request, Response, Server};
use world::Plan;

const USAGE: &str = "\
Usage: nbu-sim [flags]

Simulates a NetBackup primary server's REST API.

Flags:
  --listen ADDR             address to serve on (default 127.0.0.1:1556; port 0 picks a free one)
  --release R               NetBackup release: 8.3, 10.1.1, 10.3, 10.4, 10.5, 11.0 or 11.2 (default 10.4)
  --api-key KEY             the API key clients must send (default sim-api-key)
  --login USER:PASSWORD     also accept this user on POST /login (tokens, like a JWT login)
  --token-validity SECONDS  lifetime of login tokens (default 86400)
  --seed N                  data seed (default 1)
  --jobs-per-hour N         new jobs per hour (default 2400)
  --old-jobs N              finished jobs 4-6 hours old (default 1000)
  --future MINUTES          how long new jobs keep arriving (default 720)
  --extra-storage-units N   storage units (and disk pools) beyond the built-in ones (default 0)
  --extra-servers N         storage servers and media servers beyond the built-in ones (default 0)
  --slp-images N            SLP images before the start, in every state (default 120)
  --tape-drives N           tape drives (default 12)
  --tape-media N            tape media (default 200)
  --tape-pools N            tape volume pools (default 6)
  --latency-ms N            delay before every API answer (default 0)
  --workers N               HTTP worker threads (default 16)
";

#[derive(Debug, Clone, Copy)]
struct Release {
    name: &'static str,
    nbu_version: &'static str,
    api: ApiVersion,
    has_ping: bool,
}

const RELEASES: &[Release] = &[
    Release { name: "8.3", nbu_version: "NetBackup_8.3.0.2", api: ApiVersion::new(4, 0), has_ping: false },
    Release { name: "10.1.1", nbu_version: "NetBackup_10.1.1", api: ApiVersion::new(9, 0), has_ping: false },
    Release { name: "10.3", nbu_version: "NetBackup_10.3.0.1", api: ApiVersion::new(10, 0), has_ping: true },
    Release { name: "10.4", nbu_version: "NetBackup_10.4.0.1", api: ApiVersion::new(11, 0), has_ping: true },
    Release { name: "10.5", nbu_version: "NetBackup_10.5", api: ApiVersion::new(12, 0), has_ping: true },
    Release { name: "11.0", nbu_version: "NetBackup_11.0", api: ApiVersion::new(13, 0), has_ping: true },
    Release { name: "11.2", nbu_version: "NetBackup_11.2", api: ApiVersion::new(14, 0), has_ping: true },
];
const MIN_API: ApiVersion = ApiVersion::new(3, 0);

/// Recent filter results: (filter, clock second, modern dialect, matching plan indices). Several entries, so
/// clients walking several filters at once (time slices) do not evict each other.
type FilterCache = Vec<(String, i64, bool, Arc<Vec<u32>>)>;
const FILTER_CACHE_ENTRIES: usize = 32;

struct Sim {
    release: Release,
    api_key: Mutex<String>,
    /// `user:password` accepted by POST /login (besides the API-key login form).
    login: Option<(String, String)>,
    token_validity: i64,
    /// Issued JWT stand-ins and when they expire (epoch ms).
    tokens: Mutex<BTreeMap<String, i64>>,
    plans: Vec<Plan>,
    origin: i64,
    extra_storage: usize,
    extra_servers: usize,
    slp_images: usize,
    tape: tape::Inventory,
    control: Mutex<Control>,
    stats: Mutex<BTreeMap<String, u64>>,
    cache: Mutex<FilterCache>,
}

fn arg_value(args: &mut impl Iterator<Item = String>, name: &str) -> String {
    args.next().unwrap_or_else(|| {
        eprintln!("nbu-sim: {name} needs a value\n\n{USAGE}");
        std::process::exit(2)
    })
}

fn num<T: std::str::FromStr>(v: String, name: &str) -> T {
    v.parse().unwrap_or_else(|_| {
        eprintln!("nbu-sim: {name} {v:?} is not a number");
        std::process::exit(2)
    })
}

fn main() {
    let mut listen = "127.0.0.1:1556".to_string();
    let mut release = "10.4".to_string();
    let mut api_key = "sim-api-key".to_string();
    let mut login: Option<(String, String)> = None;
    let mut token_validity: i64 = 86_400;
    let (mut seed, mut per_hour, mut old, mut future_min, mut extra, mut latency, mut workers) =
        (1u64, 2400i64, 1000i64, 720i64, 0usize, 0u64, 16usize);
    let (mut extra_servers, mut slp_images) = (0usize, 120usize);
    let mut tape_sizes = tape::Sizes::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = arg_value(&mut args, &a),
            "--release" => release = arg_value(&mut args, &a),
            "--api-key" => api_key = arg_value(&mut args, &a),
            "--login" => login = arg_value(&mut args, &a).split_once(':').map(|(u, p)| (u.to_string(), p.to_string())),
            "--token-validity" => token_validity = num(arg_value(&mut args, &a), &a),
            "--seed" => seed = num(arg_value(&mut args, &a), &a),
            "--jobs-per-hour" => per_hour = num(arg_value(&mut args, &a), &a),
            "--old-jobs" => old = num(arg_value(&mut args, &a), &a),
            "--future" => future_min = num(arg_value(&mut args, &a), &a),
            "--extra-storage-units" => extra = num(arg_value(&mut args, &a), &a),
            "--extra-servers" => extra_servers = num(arg_value(&mut args, &a), &a),
            "--slp-images" => slp_images = num(arg_value(&mut args, &a), &a),
            "--tape-drives" => tape_sizes.drives = num(arg_value(&mut args, &a), &a),
            "--tape-media" => tape_sizes.media = num(arg_value(&mut args, &a), &a),
            "--tape-pools" => tape_sizes.pools = num(arg_value(&mut args, &a), &a),
            "--latency-ms" => latency = num(arg_value(&mut args, &a), &a),
            "--workers" => workers = num(arg_value(&mut args, &a), &a),
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            other => {
                eprintln!("nbu-sim: unknown flag {other:?}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let Some(release) = RELEASES.iter().find(|r| r.name == release).copied() else {
        eprintln!("nbu-sim: unknown release {release:?}; use one of 8.3, 10.1.1, 10.3, 10.4, 10.5, 11.0, 11.2");
        std::process::exit(2);
    };
    let origin = now_ms();
    let mut plans = world::generate(&world::Params {
        seed,
        origin,
        jobs_per_hour: per_hour,
        old_jobs: old,
        future: future_min * world::MINUTE,
    });
    plans.sort_by_key(|p| (-(p.start / 1000), p.id));
    let sim = Arc::new(Sim {
        release,
        api_key: Mutex::new(api_key),
        login,
        token_validity,
        tokens: Mutex::new(BTreeMap::new()),
        plans,
        origin,
        extra_storage: extra,
        extra_servers,
        slp_images,
        tape: tape::generate(seed, origin, tape_sizes),
        control: Mutex::new(Control { latency_ms: latency, fail_paths: "all".into(), ..Default::default() }),
        stats: Mutex::new(BTreeMap::new()),
        cache: Mutex::new(Vec::new()),
    });
    // TCP_NODELAY (as real web servers set it): without it every answer waits ~40 ms on the client's delayed ACK.
    let server = match nbu_exporter::http::bind(&listen)
        .map_err(|e| e.to_string())
        .and_then(|l| Server::from_listener(l, None).map_err(|e| e.to_string()))
    {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("nbu-sim: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    let addr = server.server_addr().to_ip().map_or(listen.clone(), |a| a.to_string());
    println!("nbu-sim: NetBackup {} (API {}) listening on {addr}", release.name, release.api);
    let _ = std::io::stdout().flush();
    let handles: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let (server, sim) = (server.clone(), sim.clone());
            std::thread::spawn(move || {
                while let Ok(rq) = server.recv() {
                    sim.handle(rq);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(url: &str) -> BTreeMap<String, String> {
    url.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Sim {
    fn now(&self) -> i64 {
        self.control.lock().frozen_at.unwrap_or_else(now_ms)
    }

    /// The storage and media servers now, with the `server_state` overrides of `c` applied.
    fn servers(&self, c: &Control) -> (Vec<Value>, Vec<Value>) {
        let mut storage = servers::storage_servers(self.origin, self.now(), self.extra_servers);
        let mut media = servers::media_servers(self.extra_servers);
        servers::override_states(&mut storage, &mut media, &c.server_states);
        (storage, media)
    }

    fn count(&self, key: &str) {
        *self.stats.lock().entry(key.to_string()).or_default() += 1;
    }

    fn handle(&self, mut rq: Request) {
        let url = rq.url().to_string();
        let path = url.split('?').next().unwrap_or("").to_string();
        let q = query(&url);
        let (status, body, headers) = if let Some(hook) = path.strip_prefix("/_sim/") {
            self.hook(hook, &q)
        } else if path == "/netbackup/login" {
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(rq.as_reader(), &mut body);
            self.login(&body)
        } else {
            self.api(&rq, &path, &q)
        };
        if !path.starts_with("/_sim/") {
            // Bytes served by the API (bodies), per endpoint family, for the request-cost benchmarks.
            let family = if path.contains("/admin/jobs") { "bytes_jobs" } else { "bytes_other" };
            *self.stats.lock().entry(family.to_string()).or_default() += body.len() as u64;
        }
        let mut resp = Response::from_string(body).with_status_code(status);
        for h in headers {
            resp.add_header(h);
        }
        let _ = rq.respond(resp);
    }

    fn hook(&self, hook: &str, q: &BTreeMap<String, String>) -> Reply {
        match hook {
            "truth" => json_reply(200, &self.truth(), None),
            "slp" => json_reply(
                200,
                &json!({"images": slp::images(self.origin, self.now(), self.slp_images), "slps": slp::slps()}),
                None,
            ),
            "services" => {
                let c = self.control.lock().clone();
                let (_, media) = self.servers(&c);
                let hosts: Vec<Value> = services::hosts(&media)
                    .into_iter()
                    .map(|(id, name, _)| {
                        let answer = services::services(self.release.api, &id, &media, &c.service_states);
                        let body: Value = serde_json::from_str(&answer.1).unwrap_or(Value::Null);
                        json!({"hostName": name, "status": answer.0, "answer": body})
                    })
                    .collect();
                json_reply(200, &json!({"hosts": hosts}), None)
            }
            "servers" => {
                let c = self.control.lock().clone();
                let (storage, media) = self.servers(&c);
                json_reply(200, &json!({"storageServers": storage, "mediaServers": media}), None)
            }
            "truth/tape" => json_reply(200, &self.tape.truth(&self.control.lock().tape, self.release.api), None),
            "stats" => json_reply(200, &json!(*self.stats.lock()), None),
            "control" => self.control_hook(q),
            _ => error_reply(404, 227, "no such simulator hook"),
        }
    }

    /// Ground truth: every job visible now, in simple form.
    fn truth(&self) -> Value {
        let now = self.now();
        let jobs: Vec<Value> = self
            .plans
            .iter()
            .filter_map(|p| p.view(now))
            .map(|v| {
                json!({"jobId": v.plan.id, "jobType": v.plan.job_type, "policyType": v.plan.policy_type.unwrap_or(""),
                       "state": v.state, "status": v.status, "kilobytesTransferred": v.kb, "numberOfFiles": v.files,
                       "endTimeMs": v.end, "startTimeMs": v.plan.start / 1000 * 1000, "lastUpdateMs": v.last_update,
                       "jobQueueReason": v.plan.queue_reason,
                       "dedupRatio": if v.state == "DONE" { v.plan.dedup } else { None }, "elapsedMs": v.elapsed_ms})
            })
            .collect();
        json!({"nowMs": now, "originMs": self.origin, "release": self.release.name, "api": self.release.api.to_string(), "jobs": jobs})
    }

    fn negotiate(&self, rq: &Request) -> Result<ApiVersion, Reply> {
        let accept = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Accept"))
            .map(|h| h.value.as_str().to_string())
            .unwrap_or_default();
        let requested = accept
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("version="))
            .and_then(ApiVersion::parse)
            .unwrap_or(self.release.api);
        if requested > self.release.api || requested < MIN_API || self.control.lock().reject_versions {
            self.count("not_acceptable");
            return Err(error_reply(
                406,
                8952,
                "A response cannot be generated in the media type specified by the request accept header.",
            ));
        }
        Ok(requested)
    }

    fn authorized(&self, rq: &Request) -> bool {
        let key = self.api_key.lock().clone();
        let now = self.now().max(now_ms());
        let tokens = self.tokens.lock();
        rq.headers().iter().filter(|h| h.field.equiv("Authorization")).any(|h| {
            let v = h.value.as_str();
            let v = v.strip_prefix("Bearer ").unwrap_or(v);
            v == key || tokens.get(v).is_some_and(|exp| *exp > now)
        })
    }

    /// `POST /login`: user/password, or the API-key form (domainName vrts.apikey); 201 with a token.
    fn login(&self, body: &str) -> Reply {
        self.count("login");
        let req: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let (user, pass) = (req["userName"].as_str().unwrap_or(""), req["password"].as_str().unwrap_or(""));
        let by_key = req["domainName"] == "vrts.apikey" && pass == self.api_key.lock().as_str();
        let by_user = self.login.as_ref().is_some_and(|(u, p)| u == user && p == pass);
        if !by_key && !by_user {
            self.count("login_failed");
            return error_reply(401, 8000, "The user name, password or API Key is wrong.");
        }
        let token = format!("eyJ.sim.{}.{}", now_ms(), self.tokens.lock().len());
        self.tokens.lock().insert(token.clone(), now_ms() + self.token_validity * 1000);
        json_reply(201, &json!({"token": token, "tokenType": "BEARER", "validity": self.token_validity}), None)
    }

    fn api(&self, rq: &Request, path: &str, q: &BTreeMap<String, String>) -> Reply {
        let route = match path {
            "/netbackup/ping" => "ping",
            "/netbackup/security/serverinfo" => "serverinfo",
            "/netbackup/admin/jobs" => "jobs",
            "/netbackup/storage/storage-units" => "storage",
            "/netbackup/storage/disk-pools" => "disk_pools",
            "/netbackup/storage/storage-servers" => "storage_servers",
            // Not in NetBackup 8.3 (API 4.0): a 404, as on a real primary without the endpoint.
            "/netbackup/config/media-servers" if self.release.api >= ApiVersion::new(5, 0) => "media_servers",
            // SLP images and SLPs: in the 10.3 and later specs, not on 8.3.
            "/netbackup/catalog/slp-images" if self.release.api >= ApiVersion::new(5, 0) => "slp_images",
            "/netbackup/config/slps" if self.release.api >= ApiVersion::new(5, 0) => "slps",
            "/netbackup/config/hosts" if self.release.api >= ApiVersion::new(5, 0) => "hosts",
            p if self.release.api >= ApiVersion::new(5, 0)
                && p.strip_prefix("/netbackup/admin/hosts/").is_some_and(|r| r.ends_with("/services")) =>
            {
                "services"
            }
            "/netbackup/storage/drives" => "tape_drives",
            "/netbackup/storage/tape-media" => "tape_media",
            "/netbackup/storage/tape-volume-pools" => "tape_pools",
            "/netbackup/storage/robots-device-hosts" => "tape_robots",
            _ => "other",
        };
        self.count(route);
        let c = self.control.lock().clone();
        if c.latency_ms > 0 {
            std::thread::sleep(Duration::from_millis(c.latency_ms));
        }
        // `tape` targets every tape route.
        let targeted = c.fail_paths == "all"
            || c.fail_paths.split(',').any(|p| p == route || (p == "tape" && route.starts_with("tape_")));
        if targeted && c.hang_ms > 0 {
            std::thread::sleep(Duration::from_millis(c.hang_ms));
        }
        if targeted && c.hold {
            self.count("held");
            while self.control.lock().hold {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let (Some(status), true) = (c.fail, targeted) {
            if c.fail_count > 0 {
                let mut live = self.control.lock();
                live.fail_count = live.fail_count.saturating_sub(1);
                if live.fail_count == 0 {
                    live.fail = None;
                }
            }
            self.count("injected_failures");
            let mut reply = match status {
                403 => error_reply(status, 8000, "You do not have the permission for this action."),
                404 => error_reply(status, 227, "no entity was found"),
                _ => error_reply(status, 503, "The server is busy."),
            };
            if let Some(secs) = c.retry_after {
                reply.2.push(header("Retry-After", &secs.to_string()));
            }
            return reply;
        }
        match route {
            "ping" if self.release.has_ping => (
                200,
                now_ms().to_string(),
                vec![
                    header("Content-Type", &format!("text/vnd.netbackup+plain;version={}", self.release.api)),
                    header("X-NetBackup-API-Version", &self.release.api.to_string()),
                ],
            ),
            "serverinfo" => json_reply(
                200,
                &json!({"serverName": "nbu-sim", "nbuVersion": self.release.nbu_version, "masterHostId": "sim-0001",
                        "nbuKeySize": 2048, "externalCaUsage": 0, "cacpivEnabled": 0, "ssoEnabled": false}),
                None,
            ),
            "jobs" | "storage" | "disk_pools" | "storage_servers" | "media_servers" | "slp_images" | "slps"
            | "hosts" | "services" | "tape_drives" | "tape_media" | "tape_pools" | "tape_robots" => {
                let version = match self.negotiate(rq) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                if !self.authorized(rq) {
                    self.count("unauthorized");
                    return error_reply(401, 8000, "The Authorization header is missing, the token is invalid, or you do not have permission for this action.");
                }
                if targeted && c.garbage {
                    return (
                        200,
                        "{\"data\":[{\"type\":\"job\",".into(),
                        vec![header("Content-Type", "application/json")],
                    );
                }
                match route {
                    "jobs" => self.jobs(version, q, &c),
                    r if r.starts_with("tape_") => self.tape(r, version, q, &c.tape),
                    "storage" => {
                        let units = world::storage_units(self.origin, self.now(), self.extra_storage);
                        offset_list(version, q, units, ("storageUnit", "/storage/storage-units"), |u| {
                            u["name"].as_str().map(str::to_string)
                        })
                    }
                    "hosts" | "services" => {
                        let (_, media) = self.servers(&c);
                        let id = path.trim_start_matches("/netbackup/admin/hosts/").trim_end_matches("/services");
                        match route {
                            "hosts" => services::hosts_answer(version, q, &media),
                            _ => services::services(version, id, &media, &c.service_states),
                        }
                    }
                    "slp_images" => slp::image_page(version, q, slp::images(self.origin, self.now(), self.slp_images)),
                    "slps" => reply::offset_list_max(100, version, q, slp::slps(), ("slp", "/config/slps"), |s| {
                        s["slpName"].as_str().map(str::to_string)
                    }),
                    "storage_servers" | "media_servers" => {
                        let (storage, media) = self.servers(&c);
                        if route == "media_servers" {
                            offset_list(version, q, media, ("mediaServer", "/config/media-servers"), |m| {
                                m["hostName"].as_str().map(str::to_string)
                            })
                        } else {
                            reply::offset_list_max(
                                100,
                                version,
                                q,
                                storage,
                                ("storageServer", "/storage/storage-servers"),
                                |s| Some(format!("{}:{}", s["sType"].as_str()?, s["name"].as_str()?)),
                            )
                        }
                    }
                    _ => {
                        let mut pools = disk_pools::disk_pools(self.origin, self.now(), self.extra_storage);
                        disk_pools::override_states(&mut pools, &c.disk_states);
                        offset_list(version, q, pools, ("diskPool", "/storage/disk-pools"), |p| {
                            Some(format!("{}_{}", p["sType"].as_str()?, p["name"].as_str()?))
                        })
                    }
                }
            }
            _ => error_reply(404, 227, "no entity was found"),
        }
    }
}
