//! Tape collector: drives, tape media, volume pools and robot device hosts, every page of each, once per cache TTL.
//!
//! Endpoints and paging per the vendor specs: `/storage/drives` offset-paged (at most 100 per page, 10.3+);
//! `/storage/tape-media` and `/storage/tape-volume-pools` cursor-paged (`page[after]` ← `meta.pagination.next`,
//! 10.4+); `/storage/robots-device-hosts` unpaged (10.4+). An endpoint the release does not have (404) is skipped
//! and its series are absent while the others are reported; only when all four answer 404 does the source fail,
//! with kind `unsupported`. Any other failure of any endpoint (a 403 included) fails the whole source and keeps
//! the previous collection's series: a partial inventory would make counts silently drop.
//!
//! Cardinality: per drive (drive name), per volume pool, and per (pool, media type, robot type, media status)
//! combination in use, never per tape medium.

use super::{Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::{DriveAttributes, Empty, Page, TapeMediaAttributes, VolumePoolAttributes};
use crate::netbackup::time::parse_set_timestamp;
use crate::netbackup::{ApiError, List, Paging};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest page the tape endpoints allow.
const PAGE_LIMIT: u32 = 100;
const DRIVES: &str = "/storage/drives";
const MEDIA: &str = "/storage/tape-media";
const POOLS: &str = "/storage/tape-volume-pools";
const ROBOT_HOSTS: &str = "/storage/robots-device-hosts";
/// `driveStatus` values the spec documents.
pub const DRIVE_STATUSES: [&str; 4] =
    ["DRIVE_STATUS_UP", "DRIVE_STATUS_DOWN", "DRIVE_STATUS_MIXED", "DRIVE_STATUS_DISABLED"];
/// `driveControl` values the spec documents.
pub const DRIVE_CONTROLS: [&str; 13] = [
    "DRIVE_CONTROL_DOWN",
    "DRIVE_CONTROL_OPR",
    "DRIVE_CONTROL_AVR",
    "DRIVE_CONTROL_MIXED",
    "LTID_DOWN",
    "DRIVE_CONTROL_ACTIVE",
    "DRIVE_CONTROL_SCAN",
    "DRIVE_CONTROL_PEND",
    "DRIVE_CONTROL_RESTART",
    "DRIVE_CONTROL_DOWN_ROBOT_STRING",
    "DRIVE_CONTROL_PEND_ROBOT_STRING",
    "DRIVE_CONTROL_SCAN_ROBOT_STRING",
    "DRIVE_CONTROL_ROBOT_STRING",
];
/// The `poolType` of scratch pools (not a pool's name: any pool can be the scratch pool).
const SCRATCH: &str = "SCRATCH_MEDIA_POOL";
/// Label value for an enumerated attribute NetBackup did not send.
const UNKNOWN: &str = "UNKNOWN";

/// What one medium counts towards in its pool.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PoolMedia {
    pub frozen: f64,
    pub suspended: f64,
    pub full: f64,
    /// Media with a mount limit (`maxMounts` > 0) reached or passed.
    pub at_max_mounts: f64,
    /// The highest `mounts / maxMounts` among the pool's media with a mount limit.
    pub max_mounts_ratio: Option<f64>,
    /// Data media (not cleaning tapes) neither frozen, suspended nor full: what a scratch pool can hand out.
    pub available: f64,
}

/// The media inventory reduced to what is exposed: no media ids are kept.
#[derive(Debug, Default, Clone)]
pub struct MediaSummary {
    /// (pool, media type, robot type, media status) → media.
    pub counts: BTreeMap<(String, String, String, String), f64>,
    pub pools: BTreeMap<String, PoolMedia>,
}

impl MediaSummary {
    pub fn add(&mut self, m: &TapeMediaAttributes) {
        let pool = m.volume_pool.clone().unwrap_or_default();
        let media_type = upper_or_unknown(m.media_type.as_deref());
        let robot_type = upper_or_unknown(m.robot.as_ref().and_then(|r| r.robot_type.as_deref()));
        let status = media_status(m.media_status.as_deref());
        let flag = |f: &str| status.split(' ').any(|t| t == f);
        let (frozen, suspended, full) = (flag("FROZEN"), flag("SUSPENDED"), flag("FULL"));
        let p = self.pools.entry(pool.clone()).or_default();
        p.frozen += f64::from(frozen);
        p.suspended += f64::from(suspended);
        p.full += f64::from(full);
        if let (Some(mounts), Some(max)) = (m.mounts, m.max_mounts.filter(|m| *m > 0)) {
            p.at_max_mounts += f64::from(mounts >= max);
            let ratio = mounts.max(0) as f64 / max as f64;
            p.max_mounts_ratio = Some(p.max_mounts_ratio.map_or(ratio, |r| r.max(ratio)));
        }
        if !(frozen || suspended || full || media_type.ends_with("_CLN")) {
            p.available += 1.0;
        }
        *self.counts.entry((pool, media_type, robot_type, status)).or_default() += 1.0;
    }
}

fn upper_or_unknown(v: Option<&str>) -> String {
    v.map(str::trim).filter(|s| !s.is_empty()).map_or_else(|| UNKNOWN.to_string(), str::to_ascii_uppercase)
}

/// `mediaStatus` as a label: upper case, words separated by one space (`"ACTIVE MULTIPLEXED"`), `NONE` when
/// NetBackup sends none.
pub fn media_status(v: Option<&str>) -> String {
    let words: Vec<String> = v
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    if words.is_empty() {
        "NONE".into()
    } else {
        words.join(" ")
    }
}

/// A volume pool: its name (or number when unnamed) and attributes.
#[derive(Debug, Default, Clone)]
pub struct Pool {
    pub name: String,
    pub pool_type: Option<String>,
    pub partially_full: Option<f64>,
}

/// One collection; `None` for an endpoint the release does not have.
#[derive(Debug, Default, Clone)]
struct Inventory {
    drives: Option<Vec<DriveAttributes>>,
    media: Option<MediaSummary>,
    pools: Option<Vec<Pool>>,
    robot_hosts: Option<usize>,
}

pub struct TapeCollector {
    ttl: Duration,
    inventory: Inventory,
    /// The endpoints that answered 404 at the last collection, to log a change once.
    missing: Vec<&'static str>,
}

impl TapeCollector {
    pub fn new(ttl: Duration) -> Self {
        TapeCollector { ttl, inventory: Inventory::default(), missing: Vec::new() }
    }
}

/// `Ok(None)` for a 404 (remembered in `absent`), the error for anything else.
fn present<T>(
    r: Result<T, ApiError>,
    path: &'static str,
    absent: &mut Vec<(&'static str, ApiError)>,
) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == "unsupported" => {
            absent.push((path, e));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every item of a list endpoint, all pages, in the endpoint's paging style.
fn walk<A: DeserializeOwned + Send + 'static>(
    ctx: &Ctx,
    path: &'static str,
    paging: Paging,
    mut keep: impl FnMut(Option<String>, A),
) -> Result<(), ApiError> {
    let list = List { path, version: ctx.version, paging, limit: PAGE_LIMIT };
    ctx.client
        .walk_parallel::<A>(list, &[vec![]], ctx.walk(), &mut |items| {
            for it in items {
                if let Some(a) = it.attributes {
                    keep(it.id, a);
                }
            }
        })
        .map(|_| ())
}

impl TapeCollector {
    fn fetch(&self, ctx: &Ctx) -> Result<(Inventory, Vec<&'static str>), ApiError> {
        let mut absent = Vec::new();
        let mut drives = Vec::new();
        let got = walk::<DriveAttributes>(ctx, DRIVES, Paging::Offset, |id, mut a| {
            a.name = id;
            if a.name.is_some() {
                drives.push(a);
            }
        });
        let drives = present(got, DRIVES, &mut absent)?
            .map(|()| super::sorted_unique(drives, |d| d.name.clone().unwrap_or_default()));
        let mut media = MediaSummary::default();
        let got = walk::<TapeMediaAttributes>(ctx, MEDIA, Paging::Cursor, |_, a| media.add(&a));
        let media = present(got, MEDIA, &mut absent)?.map(|()| media);
        let mut pools = Vec::new();
        let got = walk::<VolumePoolAttributes>(ctx, POOLS, Paging::Cursor, |id, a| {
            if let Some(name) = a.volume_pool_name.or(id) {
                pools.push(Pool {
                    name,
                    pool_type: a.pool_type.map(|t| t.to_ascii_uppercase()),
                    partially_full: a.partially_full_media.map(|n| n as f64),
                });
            }
        });
        let pools = present(got, POOLS, &mut absent)?.map(|()| super::sorted_unique(pools, |p| p.name.clone()));
        let got = ctx.client.get_json::<Page<Empty>>(ROBOT_HOSTS, &[], ctx.version).map(|(page, _)| {
            let mut hosts: Vec<String> = page.data.unwrap_or_default().into_iter().filter_map(|i| i.id).collect();
            hosts.sort_unstable();
            hosts.dedup();
            hosts.len()
        });
        let robot_hosts = present(got, ROBOT_HOSTS, &mut absent)?;
        if absent.len() == 4 {
            // No tape endpoint at all: the release has no tape API.
            return Err(absent.swap_remove(0).1);
        }
        let missing = absent.into_iter().map(|(p, _)| p).collect();
        Ok((Inventory { drives, media, pools, robot_hosts }, missing))
    }
}

impl Collector for TapeCollector {
    fn source(&self) -> &'static str {
        "tape"
    }

    fn permission(&self) -> &'static str {
        "|STORAGE|TAPE-DEVICES| View (drives, robot device hosts), |STORAGE|TAPE-MEDIA| View (tape media) and \
         |STORAGE|TAPE-MEDIA|VOLUME-POOLS| View (volume pools)"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &[DRIVES, MEDIA, POOLS, ROBOT_HOSTS]
    }

    fn interval(&self) -> Duration {
        self.ttl
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.ttl = t.ttl(self.source());
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let (inventory, missing) = self.fetch(ctx)?;
        if !ctx.commit() {
            return Err(ApiError::Timeout { path: DRIVES.into(), detail: "collection abandoned".into() });
        }
        if missing != self.missing && !missing.is_empty() {
            log::info!(
                "site {}: tape: this NetBackup release does not have GET {} (HTTP 404): their series are absent, the \
                 other tape endpoints are reported",
                ctx.site,
                missing.join(", GET ")
            );
        }
        self.missing = missing;
        self.inventory = inventory;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        let inv = &self.inventory;
        if let Some(drives) = &inv.drives {
            render_drives(site, drives, out);
        }
        if let Some(media) = &inv.media {
            render_media(site, media, inv.pools.as_deref(), out);
        }
        for p in inv.pools.iter().flatten() {
            let pool_type = p.pool_type.as_deref().unwrap_or(UNKNOWN);
            if let Some(n) = p.partially_full {
                let labels = [("site", site), ("pool_name", p.name.as_str()), ("pool_type", pool_type)];
                out.sample(Fam::TapePoolPartiallyFull, &labels, n);
            }
        }
        if let Some(n) = inv.robot_hosts {
            out.sample(Fam::TapeRobotHosts, &[("site", site)], n as f64);
        }
    }
}

/// Counts per documented value (all present, at 0 when none), then any other value seen, in order of appearance.
fn tally<'a>(documented: &[&str], values: impl Iterator<Item = &'a str>) -> Vec<(String, f64)> {
    let mut counts: Vec<(String, f64)> = documented.iter().map(|s| (s.to_string(), 0.0)).collect();
    for v in values {
        match counts.iter_mut().find(|(s, _)| s == v) {
            Some((_, n)) => *n += 1.0,
            None => counts.push((v.to_string(), 1.0)),
        }
    }
    counts
}

fn render_drives(site: &str, drives: &[DriveAttributes], out: &mut Samples) {
    let status = |d: &DriveAttributes| upper_or_unknown(d.drive_status.as_deref());
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for d in drives {
        let key = (upper_or_unknown(d.drive_type.as_deref()), upper_or_unknown(d.robot_type.as_deref()));
        groups.entry(key).or_default().push(status(d));
    }
    for ((drive_type, robot_type), statuses) in &groups {
        for (s, n) in tally(&DRIVE_STATUSES, statuses.iter().map(String::as_str)) {
            let labels = [("site", site), ("drive_type", drive_type.as_str()), ("robot_type", robot_type.as_str())];
            out.sample(Fam::TapeDrives, &[&labels[..], &[("status", s.as_str())]].concat(), n);
        }
    }
    let controls: Vec<String> = drives.iter().map(|d| upper_or_unknown(d.drive_control.as_deref())).collect();
    for (c, n) in tally(&DRIVE_CONTROLS, controls.iter().map(String::as_str)) {
        out.sample(Fam::TapeDrivesByControl, &[("site", site), ("control", c.as_str())], n);
    }
    for d in drives {
        let name = d.name.as_deref().unwrap_or_default();
        let labels = [("site", site), ("drive_name", name)];
        let robot_number = d.robot_number.map(|n| n.to_string()).unwrap_or_default();
        let info = [
            ("site", site),
            ("drive_name", name),
            ("media_server", d.device_host.as_deref().unwrap_or_default()),
            ("drive_type", d.drive_type.as_deref().unwrap_or_default()),
            ("robot_type", d.robot_type.as_deref().unwrap_or_default()),
            ("robot_number", robot_number.as_str()),
        ];
        out.sample(Fam::TapeDriveInfo, &info, 1.0);
        out.sample(Fam::TapeDriveUp, &labels, f64::from(status(d) == DRIVE_STATUSES[0]));
        let cleaning = d.cleaning_comment.as_deref().is_some_and(|c| c.trim().eq_ignore_ascii_case("NEEDS CLEANING"));
        out.sample(Fam::TapeDriveNeedsCleaning, &labels, f64::from(cleaning));
        let paths = d.device_paths.as_deref().unwrap_or_default();
        let down = paths
            .iter()
            .filter(|p| p.path_status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("PATH_STATUS_DOWN")))
            .count();
        out.sample(Fam::TapeDrivePaths, &labels, paths.len() as f64);
        out.sample(Fam::TapeDrivePathsDown, &labels, down as f64);
        if let Some(ms) = d.last_cleaning_time.as_deref().and_then(parse_set_timestamp) {
            out.sample(Fam::TapeDriveLastCleaning, &labels, ms as f64 / 1000.0);
        }
    }
}

fn render_media(site: &str, media: &MediaSummary, pools: Option<&[Pool]>, out: &mut Samples) {
    for ((pool, media_type, robot_type, status), n) in &media.counts {
        let labels = [
            ("site", site),
            ("pool", pool.as_str()),
            ("media_type", media_type.as_str()),
            ("robot_type", robot_type.as_str()),
            ("status", status.as_str()),
        ];
        out.sample(Fam::TapeMedia, &labels, *n);
    }
    // Every pool the pools endpoint lists is present, at 0 when it holds no media, then pools only media name.
    let mut all: BTreeMap<&str, (PoolMedia, Option<&str>)> = BTreeMap::new();
    for p in pools.unwrap_or_default() {
        all.insert(p.name.as_str(), (PoolMedia::default(), p.pool_type.as_deref()));
    }
    for (name, m) in &media.pools {
        all.entry(name.as_str()).or_insert((PoolMedia::default(), None)).0 = m.clone();
    }
    for (name, (m, pool_type)) in &all {
        let labels = [("site", site), ("pool_name", *name)];
        out.sample(Fam::TapePoolFrozen, &labels, m.frozen);
        out.sample(Fam::TapePoolSuspended, &labels, m.suspended);
        out.sample(Fam::TapePoolFull, &labels, m.full);
        out.sample(Fam::TapePoolAtMaxMounts, &labels, m.at_max_mounts);
        if let Some(r) = m.max_mounts_ratio {
            out.sample(Fam::TapePoolMountsRatio, &labels, r);
        }
        if *pool_type == Some(SCRATCH) {
            out.sample(Fam::TapeScratchAvailable, &labels, m.available);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbackup::models::MediaRobot;

    fn medium(pool: &str, kind: &str, status: Option<&str>, mounts: i64, max: i64) -> TapeMediaAttributes {
        TapeMediaAttributes {
            media_type: Some(kind.into()),
            volume_pool: Some(pool.into()),
            media_status: status.map(str::to_string),
            mounts: Some(mounts),
            max_mounts: Some(max),
            robot: Some(MediaRobot { robot_type: Some("TLD".into()), robot_number: Some(0) }),
        }
    }

    #[test]
    fn media_reduce_to_pool_counts() {
        let mut s = MediaSummary::default();
        s.add(&medium("p", "HCART3", Some("ACTIVE  multiplexed"), 3, 0));
        s.add(&medium("p", "HCART3", Some("FROZEN"), 10, 10));
        s.add(&medium("p", "HCART3", Some("FULL,SUSPENDED"), 4, 8));
        s.add(&medium("p", "HC3_CLN", None, 1, 0));
        s.add(&medium("p", "HCART3", None, 1, 0));
        let p = &s.pools["p"];
        assert_eq!((p.frozen, p.suspended, p.full, p.at_max_mounts), (1.0, 1.0, 1.0, 1.0));
        assert_eq!((p.max_mounts_ratio, p.available), (Some(1.0), 2.0));
        let key = |st: &str| ("p".to_string(), "HCART3".to_string(), "TLD".to_string(), st.to_string());
        assert_eq!(s.counts.get(&key("ACTIVE MULTIPLEXED")), Some(&1.0));
        assert_eq!(s.counts.get(&key("FULL SUSPENDED")), Some(&1.0));
        assert_eq!(s.counts.get(&key("NONE")), Some(&1.0));
        assert_eq!(s.counts.values().sum::<f64>(), 5.0);
    }

    #[test]
    fn every_documented_state_is_present() {
        let counts = tally(&DRIVE_STATUSES, ["DRIVE_STATUS_DOWN", "WEIRD", "DRIVE_STATUS_DOWN"].into_iter());
        assert_eq!(counts.len(), 5);
        assert_eq!(counts[0], ("DRIVE_STATUS_UP".to_string(), 0.0));
        assert_eq!(counts[1].1, 2.0);
        assert_eq!(counts[4], ("WEIRD".to_string(), 1.0));
    }
}
