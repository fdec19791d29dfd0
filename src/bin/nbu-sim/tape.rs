//! Tape endpoints: drives (offset-paged), tape media and volume pools (cursor-paged), robot device hosts, with
//! seeded inventories, the releases that lack them (404), drive state controls and ground truth.
//!
//! Per the specs: `/storage/drives` from API 10.0 (release 10.3); the other three from API 11.0 (10.4). The
//! releases before 10.3 (8.3, 10.1.1) serve no tape endpoint (their specs are not available; assumed absent).

use super::reply::{error_reply, json_reply, offset_list, Reply};
use super::world::Rng;
use super::Sim;
use nbu_exporter::config::ApiVersion;
use nbu_exporter::netbackup::time::format_timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;
/// Largest page of every tape endpoint.
const MAX_LIMIT: usize = 100;
/// Pools every primary has (name, type); the scratch pool is not the one named "Scratch".
const BUILTIN_POOLS: [(&str, &str); 6] = [
    ("None", "REGULAR_MEDIA_POOL"),
    ("NetBackup", "REGULAR_MEDIA_POOL"),
    ("DataStore", "REGULAR_MEDIA_POOL"),
    ("CatalogBackup", "CATALOG_MEDIA_POOL"),
    ("scratch_pool", "SCRATCH_MEDIA_POOL"),
    ("Scratch", "REGULAR_MEDIA_POOL"),
];
const MEDIA_SERVERS: [&str; 3] = ["media01.example.com", "media02.example.com", "media03.example.com"];

/// The name (JSON:API id) of drive `i`, as NetBackup names drives: vendor, model, index.
fn drive_name(i: u64) -> String {
    format!("HPE.ULTRIUM8-SCSI.{i:03}")
}

/// Sizes of the generated inventory (`--tape-drives`, `--tape-media`, `--tape-pools`).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub drives: usize,
    pub media: usize,
    pub pools: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes { drives: 12, media: 200, pools: 6 }
    }
}

/// The generated tape inventory: attributes of each item, keyed by the item's JSON:API id.
pub struct Inventory {
    drives: Vec<(String, Value)>,
    media: Vec<(String, Value)>,
    pools: Vec<(String, Value)>,
    hosts: Vec<String>,
}

/// Drive state overrides of `/_sim/control`: `drive_state=DRIVE:UP|DOWN|MIXED|DISABLED` and
/// `drive_clean=DRIVE` (needs cleaning) or `drive_clean=DRIVE:done` (cleaned now).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    states: BTreeMap<String, String>,
    /// Drive → `None`: needs cleaning; `Some(ms)`: cleaned at `ms`.
    cleaning: BTreeMap<String, Option<i64>>,
}

impl Overrides {
    pub fn apply(&mut self, key: &str, v: &str, now: i64) -> Result<(), String> {
        match (key, v.rsplit_once(':')) {
            ("drive_state", Some((drive, state))) => {
                let state = state.to_ascii_uppercase();
                let state = state.strip_prefix("DRIVE_STATUS_").unwrap_or(&state).to_string();
                if !["UP", "DOWN", "MIXED", "DISABLED"].contains(&state.as_str()) {
                    return Err(format!("drive_state: unknown state {state}"));
                }
                self.states.insert(drive.to_string(), state);
            }
            ("drive_state", None) => return Err("drive_state wants DRIVE:STATE".into()),
            ("drive_clean", Some((drive, "done"))) => {
                self.cleaning.insert(drive.to_string(), Some(now));
            }
            _ => {
                self.cleaning.insert(v.to_string(), None);
            }
        }
        Ok(())
    }

    fn drive(&self, id: &str, a: &mut Value) {
        if let Some(state) = self.states.get(id) {
            a["driveStatus"] = json!(format!("DRIVE_STATUS_{state}"));
            let robotic = a["robotType"] != "NOT_ROBOTIC";
            a["driveControl"] = json!(match state.as_str() {
                "DOWN" => "DRIVE_CONTROL_DOWN",
                "MIXED" => "DRIVE_CONTROL_MIXED",
                _ if robotic => "DRIVE_CONTROL_AVR",
                _ => "DRIVE_CONTROL_OPR",
            });
        }
        match self.cleaning.get(id) {
            Some(None) => a["cleaningComment"] = json!("NEEDS CLEANING"),
            Some(Some(ms)) => {
                a["cleaningComment"] = json!("");
                a["lastCleaningTime"] = json!(format_timestamp(*ms));
            }
            None => {}
        }
    }
}

/// Which tape endpoints a release has, by its API version.
fn served(route: &str, api: ApiVersion) -> bool {
    match route {
        "tape_drives" => api >= ApiVersion::new(10, 0),
        _ => api >= ApiVersion::new(11, 0),
    }
}

pub fn generate(seed: u64, origin: i64, n: Sizes) -> Inventory {
    let mut rng = Rng::new(seed ^ 0x7a9e_0000_7a9e);
    let mut pools: Vec<(String, &str)> = BUILTIN_POOLS.iter().take(n.pools).map(|(p, t)| (p.to_string(), *t)).collect();
    pools.extend((BUILTIN_POOLS.len()..n.pools).map(|i| (format!("pool_{i:03}"), "REGULAR_MEDIA_POOL")));
    let drives = (0..n.drives)
        .map(|i| {
            let robot_type = if i % 10 == 9 {
                "ACS"
            } else if i % 25 == 24 {
                "NOT_ROBOTIC"
            } else {
                "TLD"
            };
            let host = MEDIA_SERVERS[i % MEDIA_SERVERS.len()];
            let (status, control) = match i {
                3 => ("DRIVE_STATUS_DOWN", "DRIVE_CONTROL_DOWN"),
                7 => ("DRIVE_STATUS_DISABLED", "DRIVE_CONTROL_OPR"),
                _ if robot_type == "NOT_ROBOTIC" => ("DRIVE_STATUS_UP", "DRIVE_CONTROL_OPR"),
                _ if rng.chance(20) => ("DRIVE_STATUS_UP", "DRIVE_CONTROL_ACTIVE"),
                _ => ("DRIVE_STATUS_UP", "DRIVE_CONTROL_AVR"),
            };
            let paths: Vec<Value> = (0..1 + i % 2)
                .map(|p| {
                    let down = i % 11 == 5 && p == 0;
                    json!({"pathIndex": p, "deviceHost": MEDIA_SERVERS[(i + p) % MEDIA_SERVERS.len()],
                           "driveName": drive_name(i as u64), "devicePath": format!("/dev/nst{p}"),
                           "driveControl": control, "isEnabled": true, "isNdmp": false,
                           "pathStatus": if down { "PATH_STATUS_DOWN" } else { "PATH_STATUS_UP" },
                           "robotControl": robot_type, "hostId": format!("host-{}", (i + p) % 3)})
                })
                .collect();
            let mut a = json!({
                "controlHostname": host, "serialNumber": format!("SN{:08}", rng.range(0, 99_999_999)),
                "driveIndex": i, "devicePaths": paths,
                "driveType": if i % 4 == 3 { "DT_HCART2" } else { "DT_HCART3" },
                "robotType": robot_type, "robotNumber": i / 24, "robotDriveNumber": i % 24 + 1,
                "cleaningFrequency": 0, "tapeAlertEnabled": true, "sharedDrive": i % 3 == 0,
                "assignedHost": host, "driveControl": control, "driveStatus": status, "enabled": true,
                "writeEnabled": true, "ready": status == "DRIVE_STATUS_UP", "deviceHost": host,
                "inquiryString": "HPE     Ultrium 8-SCSI  J4DB", "driveControlDisplayValue": control,
            });
            match i % 13 {
                // Never cleaned: NetBackup omits the time, or sends the epoch.
                0 => {}
                1 => a["lastCleaningTime"] = json!("1970-01-01T00:00:00.000Z"),
                _ => a["lastCleaningTime"] = json!(format_timestamp(origin / 1000 * 1000 - rng.range(1, 90) * DAY)),
            }
            if i % 17 == 6 {
                a["cleaningComment"] = json!("NEEDS CLEANING");
            }
            (drive_name(i as u64), a)
        })
        .collect();
    let media = (0..n.media)
        .map(|i| {
            let id = format!("A{i:05}");
            let cleaning = i % 50 == 49;
            let pool = if cleaning {
                "None".to_string()
            } else {
                match rng.range(0, 100) {
                    0..=24 if n.pools > 4 => "scratch_pool".to_string(),
                    _ => pools[rng.range(0, pools.len() as i64) as usize].0.clone(),
                }
            };
            let scratch = pools.iter().any(|(p, t)| *p == pool && *t == "SCRATCH_MEDIA_POOL");
            let status = match rng.range(0, 100) {
                _ if cleaning => None,
                0..=4 => Some("FROZEN"),
                5..=7 => Some("SUSPENDED"),
                _ if scratch => None,
                8..=29 => Some("FULL"),
                30..=39 => Some("FULL MULTIPLEXED"),
                40..=49 => Some("ACTIVE MULTIPLEXED"),
                50..=84 => Some("ACTIVE"),
                _ => None,
            };
            let max_mounts = if i % 9 == 0 { 100 } else { 0 };
            let mounts = if i % 27 == 0 { 100 + i as i64 % 3 } else { rng.range(0, 99) };
            let robot = if i % 40 == 39 {
                json!({"robotType": "NOT_ROBOTIC", "robotNumber": 0})
            } else {
                json!({"robotType": "TLD", "robotNumber": (i % 3) as i64, "robotHost": MEDIA_SERVERS[i % 3]})
            };
            let media_type = if cleaning {
                "HC3_CLN"
            } else if i % 6 == 5 {
                "HCART2"
            } else {
                "HCART3"
            };
            let mut a = json!({
                "barcode": format!("{id}L8"), "mediaType": media_type,
                "robot": robot, "slot": i + 1, "volumeGroup": format!("{:03}_00000_TLD", i % 3), "volumePool": pool,
                "mounts": mounts, "maxMounts": max_mounts, "application": "NETBACKUP",
                "timeAssigned": format_timestamp(origin / 1000 * 1000 - rng.range(1, 400) * DAY),
                "kiloBytes": rng.range(0, 12_000_000_000), "images": rng.range(0, 500), "validImages": 0,
                "retentionPeriod": 1, "numberOfRestores": 0, "conflicts": 0, "mediaOwner": "ANY",
                "lastWriteHost": MEDIA_SERVERS[i % 3], "created": format_timestamp(origin / 1000 * 1000 - 500 * DAY),
            });
            if let Some(s) = status {
                a["mediaStatus"] = json!(s);
            }
            if cleaning {
                a["cleaningsRemaining"] = json!(rng.range(0, 50));
            }
            (id, a)
        })
        .collect::<Vec<_>>();
    let pools = pools
        .iter()
        .enumerate()
        .map(|(i, (name, pool_type))| {
            // Partially full: media of the pool in use and not yet full.
            let partially = media
                .iter()
                .filter(|(_, m)| m["volumePool"] == name.as_str())
                .filter(|(_, m)| m["mediaStatus"].as_str().is_some_and(|s| s.contains("ACTIVE")))
                .count();
            let a = json!({"volumePoolName": name, "description": format!("{name} volumes"),
                           "partiallyFullMedia": partially, "poolType": pool_type});
            (i.to_string(), a)
        })
        .collect();
    let hosts = MEDIA_SERVERS.iter().take(1 + n.drives.min(48) / 24).map(|h| h.to_string()).collect();
    Inventory { drives, media, pools, hosts }
}

impl Inventory {
    fn drives(&self, o: &Overrides) -> Vec<(String, Value)> {
        let mut drives = self.drives.clone();
        for (id, a) in &mut drives {
            o.drive(id, a);
        }
        drives
    }

    /// Everything served, as served now (overrides applied), for tests.
    pub fn truth(&self, o: &Overrides, api: ApiVersion) -> Value {
        let items = |v: &[(String, Value)]| -> Vec<Value> {
            v.iter().map(|(id, a)| json!({"id": id, "attributes": a})).collect()
        };
        json!({
            "served": {"drives": served("tape_drives", api), "media": served("tape_media", api),
                       "pools": served("tape_pools", api), "robotHosts": served("tape_robots", api)},
            "drives": items(&self.drives(o)), "media": items(&self.media), "pools": items(&self.pools),
            "robotHosts": self.hosts,
        })
    }
}

/// One cursor-paged page (`page[after]` = the last id of the previous page, in list order): `meta.pagination`
/// `{limit, next?, prev?}` and `links.pagination{self, first, next?}` as the 10.4-11.0 specs define them.
fn cursor_list(
    version: ApiVersion,
    q: &BTreeMap<String, String>,
    items: &[(String, Value)],
    kind: &str,
    path: &str,
) -> Reply {
    let limit = match Sim::limit(q, MAX_LIMIT) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let start = match q.get("page[after]") {
        None => 0,
        Some(c) => match items.iter().position(|(id, _)| id == c) {
            Some(i) => i + 1,
            None => return error_reply(400, 8961, "page[after] is not a valid cursor"),
        },
    };
    let end = (start + limit).min(items.len());
    let data: Vec<Value> = items[start..end]
        .iter()
        .map(|(id, a)| {
            let href = format!("{path}/{id}");
            json!({"type": kind, "id": id, "attributes": a, "links": {"self": {"href": href}}})
        })
        .collect();
    let href = |after: Option<&str>| {
        let after = after.map(|a| format!("&page%5Bafter%5D={a}")).unwrap_or_default();
        json!({"href": format!("https://nbu-sim/netbackup{path}?page%5Blimit%5D={limit}{after}")})
    };
    let mut pagination = json!({"limit": limit});
    let mut links = json!({"self": href(q.get("page[after]").map(String::as_str)), "first": href(None)});
    if end < items.len() && end > start {
        let next = &items[end - 1].0;
        pagination["next"] = json!(next);
        links["next"] = href(Some(next));
    }
    if start > 0 {
        pagination["prev"] = json!(items[start].0);
    }
    json_reply(
        200,
        &json!({"data": data, "meta": {"pagination": pagination}, "links": {"pagination": links}}),
        Some(version),
    )
}

impl Sim {
    /// A tape route (`tape_drives`, `tape_media`, `tape_pools`, `tape_robots`), authorized already.
    pub fn tape(&self, route: &str, version: ApiVersion, q: &BTreeMap<String, String>, o: &Overrides) -> Reply {
        if !served(route, self.release.api) {
            return error_reply(404, 227, "no entity was found");
        }
        let t = &self.tape;
        match route {
            "tape_drives" => {
                if let Err(r) = Sim::limit(q, MAX_LIMIT) {
                    return r;
                }
                let attrs: Vec<Value> = t.drives(o).into_iter().map(|(_, a)| a).collect();
                // Drive names are the ids; driveIndex orders them as generated.
                offset_list(version, q, attrs, ("drive", "/storage/drives"), |a| {
                    a["driveIndex"].as_u64().map(drive_name)
                })
            }
            "tape_media" => cursor_list(version, q, &t.media, "volumeInfo", "/storage/tape-media"),
            "tape_pools" => cursor_list(version, q, &t.pools, "volumePoolDetails", "/storage/tape-volume-pools"),
            _ => {
                let data: Vec<Value> = t.hosts.iter().map(|h| json!({"type": "deviceHost", "id": h})).collect();
                json_reply(200, &json!({"data": data}), Some(version))
            }
        }
    }
}
