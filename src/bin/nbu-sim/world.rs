//! The simulated NetBackup primary's data: a deterministic plan of jobs whose state is a pure function of time.

use nbu_exporter::netbackup::time::format_timestamp;
use serde_json::{json, Map, Value};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % (hi - lo) as u64) as i64
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// A job as planned: its whole life is fixed up front, so its state at any instant is derivable.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: i64,
    pub parent: i64,
    pub path: String,
    pub child_count: u32,
    pub job_type: &'static str,
    pub policy_type: Option<&'static str>,
    pub policy_name: String,
    pub schedule_type: Option<&'static str>,
    pub client: Option<String>,
    pub stu: &'static str,
    pub start: i64,
    pub queue_ms: i64,
    pub run_ms: i64,
    pub status: i64,
    pub kb: i64,
    pub files: i64,
    pub dedup: Option<f64>,
    pub queue_reason: i64,
    /// A job stuck in this state forever (SUSPENDED / INCOMPLETE), updated once at start + 10 min.
    pub stuck: Option<&'static str>,
    /// The attributes JSON of the finished job (legacy, modern dialect): it never changes once `DONE`, so it is
    /// rendered once (big benchmark worlds serve 100 000 finished jobs).
    pub done_json: [std::sync::OnceLock<String>; 2],
}

/// A job's observable state at some instant.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub plan: &'a Plan,
    pub state: &'static str,
    pub status: Option<i64>,
    pub end: i64,
    pub last_update: i64,
    pub kb: i64,
    pub files: i64,
    pub elapsed_ms: i64,
}

impl Plan {
    pub fn end(&self) -> i64 {
        self.start + self.queue_ms + self.run_ms
    }

    pub fn view(&self, now: i64) -> Option<View<'_>> {
        if now < self.start {
            return None;
        }
        if let Some(state) = self.stuck {
            return Some(View {
                plan: self,
                state,
                status: None,
                end: 0,
                last_update: self.start + 10 * MINUTE,
                kb: self.kb / 3,
                files: self.files / 3,
                elapsed_ms: now - self.start,
            });
        }
        let active_from = self.start + self.queue_ms;
        let end = self.end();
        Some(if now < active_from {
            View {
                plan: self,
                state: "QUEUED",
                status: None,
                end: 0,
                last_update: self.start,
                kb: 0,
                files: 0,
                elapsed_ms: now - self.start,
            }
        } else if now < end {
            let frac = (now - active_from) as f64 / self.run_ms.max(1) as f64;
            let ticks = (now - active_from) / (30 * 1000);
            View {
                plan: self,
                state: "ACTIVE",
                status: None,
                end: 0,
                last_update: active_from + ticks * 30_000,
                kb: (self.kb as f64 * frac) as i64,
                files: (self.files as f64 * frac) as i64,
                elapsed_ms: now - self.start,
            }
        } else {
            let end_s = end / 1000 * 1000;
            View {
                plan: self,
                state: "DONE",
                status: Some(self.status),
                end: end_s,
                last_update: end,
                kb: self.kb,
                files: self.files,
                elapsed_ms: end_s - self.start,
            }
        })
    }
}

/// How a release formats jobs.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// API ≥ 10.0 (NetBackup 10.3+): `lastUpdateTime`, `jobPath`, `childCount`, ISO durations.
    pub modern: bool,
}

fn iso_duration(ms: i64) -> String {
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, (ms % 60_000) as f64 / 1000.0);
    let mut out = String::from("PT");
    if h > 0 {
        out += &format!("{h}H");
    }
    if m > 0 {
        out += &format!("{m}M");
    }
    if s > 0.0 || out == "PT" {
        out += &format!("{s}S");
    }
    out
}

fn clock_duration(ms: i64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl View<'_> {
    /// The job as NetBackup serialises it: empty strings omitted, `status` only once finished, epoch-zero end.
    pub fn to_json(&self, d: Dialect) -> Value {
        let p = self.plan;
        let mut a = Map::new();
        a.insert("jobId".into(), json!(p.id));
        a.insert("parentJobId".into(), json!(p.parent));
        a.insert("jobType".into(), json!(p.job_type));
        if let Some(v) = p.policy_type {
            a.insert("policyType".into(), json!(v));
        }
        if !p.policy_name.is_empty() {
            a.insert("policyName".into(), json!(p.policy_name));
        }
        if let Some(v) = p.schedule_type {
            a.insert("scheduleType".into(), json!(v));
        }
        if let Some(c) = &p.client {
            a.insert("clientName".into(), json!(c));
        }
        a.insert("destinationStorageUnitName".into(), json!(p.stu));
        a.insert("state".into(), json!(self.state));
        if let Some(s) = self.status {
            a.insert("status".into(), json!(s));
        }
        a.insert("numberOfFiles".into(), json!(self.files));
        a.insert("kilobytesTransferred".into(), json!(self.kb));
        a.insert("kilobytesDataTransferred".into(), json!(self.kb / 7));
        a.insert("percentComplete".into(), json!(if self.state == "DONE" { 100 } else { 0 }));
        a.insert("jobQueueReason".into(), json!(if self.state == "QUEUED" { p.queue_reason } else { -99 }));
        a.insert("currentOperation".into(), json!(if self.state == "ACTIVE" { 3 } else { -99 }));
        a.insert("startTime".into(), json!(format_timestamp(p.start / 1000 * 1000)));
        a.insert("endTime".into(), json!(format_timestamp(self.end)));
        a.insert("activeTryStartTime".into(), json!(format_timestamp((p.start + p.queue_ms) / 1000 * 1000)));
        if let (Some(r), "DONE") = (p.dedup, self.state) {
            // Real servers send whole ratios as integers (100) and others as decimals (99.4).
            a.insert("dedupRatio".into(), if r.fract() == 0.0 { json!(r as i64) } else { json!(r) });
        }
        a.insert("try".into(), json!(1));
        a.insert("restartable".into(), json!(1));
        a.insert("transportType".into(), json!("LAN"));
        if d.modern {
            a.insert("lastUpdateTime".into(), json!(format_timestamp(self.last_update)));
            a.insert("elapsedTime".into(), json!(iso_duration(self.elapsed_ms)));
            a.insert("activeElapsedTime".into(), json!(iso_duration((self.elapsed_ms - p.queue_ms).max(0))));
            a.insert("childCount".into(), json!(p.child_count));
            a.insert("jobPath".into(), json!(p.path));
            a.insert("dteMode".into(), json!("OFF"));
            a.insert("offHostType".into(), json!("STANDARD"));
        } else {
            a.insert("elapsedTime".into(), json!(clock_duration(self.elapsed_ms)));
            a.insert("initiatorId".into(), json!("root"));
        }
        Value::Object(a)
    }

    /// An attribute for filtering: dates as epoch ms, numbers as f64, strings as strings.
    pub fn attr(&self, name: &str, d: Dialect) -> Option<Attr> {
        let p = self.plan;
        Some(match name {
            "jobId" => Attr::Num(p.id as f64),
            "parentJobId" => Attr::Num(p.parent as f64),
            "status" => Attr::Num(self.status? as f64),
            "kilobytesTransferred" => Attr::Num(self.kb as f64),
            "numberOfFiles" => Attr::Num(self.files as f64),
            "state" => Attr::Str(self.state.into()),
            "jobType" => Attr::Str(p.job_type.into()),
            "policyType" => Attr::Str(p.policy_type.unwrap_or("").into()),
            "policyName" => Attr::Str(p.policy_name.clone()),
            "clientName" => Attr::Str(p.client.clone().unwrap_or_default()),
            "startTime" => Attr::Date(p.start / 1000 * 1000),
            "endTime" => Attr::Date(self.end),
            "lastUpdateTime" if d.modern => Attr::Date(self.last_update),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Num(f64),
    Str(String),
    Date(i64),
}

/// Generation parameters.
pub struct Params {
    pub seed: u64,
    pub origin: i64,
    pub jobs_per_hour: i64,
    pub old_jobs: i64,
    pub future: i64,
}

const POLICIES: &[(&str, Option<&str>, &str)] = &[
    ("BACKUP", Some("VMWARE"), "VM_Prod"),
    ("BACKUP", Some("STANDARD"), "FS_Linux"),
    ("BACKUP", Some("SQL_SERVER"), "SQL_Daily"),
    ("BACKUP", Some("OBACKUP"), "Oracle_RMAN"),
    ("BACKUP", Some("WINDOWS_NT"), "FS_Windows"),
    ("DUPLICATE", None, ""),
    ("IMAGEDELETE", None, ""),
    ("RESTORE", Some("STANDARD"), "FS_Linux"),
    ("SNAPSHOT", Some("VMWARE"), "VM_Prod"),
];
const SCHEDULES: &[&str] = &["FULL_BACKUP", "DIFFERENTIAL_INCREMENTAL_BACKUP", "CUMULATIVE_INCREMENTAL_BACKUP"];
const STATUSES: &[i64] = &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 71, 150, 196, 13, 58];
const STUS: &[&str] = &["stu_msdp_01", "stu_msdp_02", "stu_adv_01", "stu_tape_lto8"];
const REASONS: &[i64] = &[1, 2, 5, 15, 25];

/// Builds the full job plan: old finished jobs, a few stuck ones, and a steady stream of new jobs from
/// 35 minutes before `origin` until `origin + future`.
pub fn generate(p: &Params) -> Vec<Plan> {
    let mut rng = Rng::new(p.seed);
    let mut starts: Vec<(i64, bool)> = Vec::new();
    for _ in 0..p.old_jobs {
        starts.push((p.origin - rng.range(4 * HOUR, 6 * HOUR), true));
    }
    let span_start = p.origin - 35 * MINUTE;
    let n_recent = p.jobs_per_hour * (p.future + 35 * MINUTE) / HOUR;
    for _ in 0..n_recent {
        starts.push((rng.range(span_start, p.origin + p.future), false));
    }
    starts.sort_unstable();
    let mut plans = Vec::with_capacity(starts.len() * 2);
    let mut next_id = 1000i64;
    for (i, (start, old)) in starts.into_iter().enumerate() {
        let &(job_type, policy_type, policy) = rng.pick(POLICIES);
        let id = next_id;
        next_id += 1;
        let client =
            (job_type != "IMAGEDELETE" && job_type != "DUPLICATE").then(|| format!("client{:03}", rng.range(1, 60)));
        let status = *rng.pick(STATUSES);
        let ok = status <= 1;
        let base = Plan {
            id,
            parent: 0,
            path: id.to_string(),
            child_count: 0,
            job_type,
            policy_type,
            policy_name: policy.to_string(),
            schedule_type: policy_type.is_some().then(|| *rng.pick(SCHEDULES)),
            client,
            stu: STUS[(rng.next() % STUS.len() as u64) as usize],
            start,
            queue_ms: if rng.chance(30) { rng.range(10_000, 3 * MINUTE) } else { rng.range(500, 3_000) },
            run_ms: if old { rng.range(MINUTE, 20 * MINUTE) } else { rng.range(20_000, 15 * MINUTE) },
            status,
            kb: if job_type == "IMAGEDELETE" || !ok {
                rng.range(0, 2) * rng.range(0, 50_000)
            } else {
                rng.range(1_000, 80_000_000)
            },
            files: if job_type == "IMAGEDELETE" { 0 } else { rng.range(0, 400_000) },
            dedup: match rng.next() % 3 {
                0 => None,
                1 => Some(100.0),
                _ => Some(90.0 + rng.range(0, 99) as f64 / 10.0),
            },
            queue_reason: *rng.pick(REASONS),
            stuck: None,
            done_json: Default::default(),
        };
        if !old && start <= p.origin && i % 97 == 13 {
            // A long-forgotten unfinished job: its lastUpdateTime is old but it is still in the Activity Monitor.
            let mut stuck = base.clone();
            stuck.start = p.origin - rng.range(5 * HOUR, 8 * HOUR);
            stuck.stuck = Some(if rng.chance(50) { "SUSPENDED" } else { "INCOMPLETE" });
            plans.push(stuck);
            continue;
        }
        if policy_type == Some("VMWARE") && job_type == "BACKUP" {
            // Parent orchestrates children; the parent transfers nothing itself and ends after its last child.
            let children = rng.range(1, 4);
            let mut child_plans = Vec::new();
            for _ in 0..children {
                let cid = next_id;
                next_id += 1;
                let mut c = base.clone();
                c.id = cid;
                c.parent = id;
                c.path = format!("{id}.{cid}");
                c.start = start + rng.range(5_000, 20_000);
                c.run_ms = rng.range(20_000, 10 * MINUTE);
                c.status = *rng.pick(STATUSES);
                c.kb = if c.status <= 1 { rng.range(100_000, 50_000_000) } else { 0 };
                child_plans.push(c);
            }
            let mut parent = base;
            parent.child_count = children as u32;
            parent.kb = 0;
            parent.files = 0;
            parent.dedup = None;
            parent.queue_ms = 500;
            parent.run_ms = child_plans.iter().map(Plan::end).max().unwrap_or(start) + 2_000 - start - parent.queue_ms;
            parent.status = child_plans.iter().map(|c| c.status).max().unwrap_or(0);
            plans.push(parent);
            plans.extend(child_plans);
        } else {
            plans.push(base);
        }
    }
    plans
}

/// A storage unit as the simulator serves it.
pub fn storage_units(origin: i64, now: i64, extra: usize) -> Vec<Value> {
    let grow = ((now - origin).max(0) / 1000) * 1_048_576; // used space grows 1 MiB per second
    let disk = |name: &str, server: &str, cat: &str, total: i64, used: i64| {
        let used = (used + grow).min(total);
        json!({"name": name, "storageType": "Disk", "storageSubType": server, "storageServerType": server,
               "storageCategory": cat, "freeCapacityBytes": total - used, "usedCapacityBytes": used,
               "totalCapacityBytes": total, "maxConcurrentJobs": 20, "maxFragmentSizeMegabytes": 51200,
               "accelerator": false, "replicationCapable": true, "replicationSourceCapable": true,
               "replicationTargetCapable": false, "instantAccessEnabled": true, "scaleOutEnabled": false,
               "isCloudSTU": false, "onDemandOnly": false, "wormCapable": false, "useWorm": false})
    };
    let mut units = vec![
        disk("stu_msdp_01", "PureDisk", "MSDP", 100 * (1 << 40), 61 * (1 << 40)),
        disk("stu_msdp_02", "PureDisk", "MSDP", 50 * (1 << 40), 12 * (1 << 40)),
        disk("stu_adv_01", "AdvancedDisk", "ADVANCED_DISK", 20 * (1 << 40), 19 * (1 << 40)),
        json!({"name": "stu_tape_lto8", "storageType": "Tape", "storageSubType": "TLD",
               "storageCategory": "TAPE", "maxConcurrentDrives": 4, "maxFragmentSizeMegabytes": 1048576,
               "robotType": "TLD", "robotNumber": 0, "density": "DHCART3", "accelerator": false,
               "replicationCapable": false, "replicationSourceCapable": false, "replicationTargetCapable": false,
               "instantAccessEnabled": false, "scaleOutEnabled": false, "isCloudSTU": false, "onDemandOnly": false,
               "wormCapable": false, "useWorm": false}),
        json!({"name": "stu_cloud_s3", "storageType": "Disk", "storageSubType": "PureDisk_amazon_rawd",
               "storageServerType": "PureDisk_amazon_rawd", "storageCategory": "CLOUD", "maxConcurrentJobs": 10,
               "maxFragmentSizeMegabytes": 51200, "accelerator": false, "replicationCapable": false,
               "replicationSourceCapable": false, "replicationTargetCapable": false, "instantAccessEnabled": false,
               "scaleOutEnabled": false, "isCloudSTU": true, "onDemandOnly": false, "wormCapable": true, "useWorm": true}),
    ];
    for i in 0..extra {
        units.push(disk(
            &format!("stu_extra_{i:04}"),
            "AdvancedDisk",
            "ADVANCED_DISK",
            1 << 40,
            (i as i64 % 100) << 33,
        ));
    }
    units
}
