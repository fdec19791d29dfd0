//! Disk-pool collector: state, capacity, water marks and volume states from `/storage/disk-pools`, fetched once
//! per cache TTL.
//!
//! Series per pool carry `{site, pool_name, storage_category}` (Go exporter labels) and per volume
//! `{site, pool_name, volume}`: one set per disk pool and volume configured on the primary, so the cardinality is
//! that of the storage configuration (tens, rarely hundreds). State series exist at 0 for every state NetBackup
//! documents, so `== 1` alerts and `increase()` see a pool or volume change state.

use super::{Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::DiskPoolAttributes;
use crate::netbackup::{ApiError, List, Paging};
use std::time::Duration;

/// Largest page the disk-pools endpoint allows.
const PAGE_LIMIT: u32 = 500;
/// The endpoint, also the request counters' `endpoint` label.
const PATH: &str = "/storage/disk-pools";
/// `diskPoolState` values the spec documents.
const POOL_STATES: [&str; 3] = ["UP", "DOWN", "TRANSIENT"];
/// `diskVolumes[].state` values the spec documents; a volume without a state counts as `UNKNOWN`.
const VOLUME_STATES: [&str; 3] = ["UP", "DOWN", "UNKNOWN"];

pub struct DiskPoolsCollector {
    ttl: Duration,
    pools: Vec<DiskPoolAttributes>,
}

impl DiskPoolsCollector {
    pub fn new(ttl: Duration) -> Self {
        DiskPoolsCollector { ttl, pools: Vec::new() }
    }
}

/// Volume count per state of one pool: the documented states first (at 0 when empty), then any other state
/// NetBackup reports, in order of appearance.
fn volume_states(p: &DiskPoolAttributes) -> Vec<(String, f64)> {
    let mut counts: Vec<(String, f64)> = VOLUME_STATES.iter().map(|s| (s.to_string(), 0.0)).collect();
    for v in p.disk_volumes.iter().flatten() {
        let state = v.state.as_deref().unwrap_or("UNKNOWN").to_ascii_uppercase();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1.0,
            None => counts.push((state, 1.0)),
        }
    }
    counts
}

impl Collector for DiskPoolsCollector {
    fn source(&self) -> &'static str {
        "disk_pools"
    }

    fn permission(&self) -> &'static str {
        "|STORAGE|DISK-POOLS| View"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &[PATH]
    }

    fn interval(&self) -> Duration {
        self.ttl
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.ttl = t.ttl(self.source());
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let mut pools = Vec::new();
        let list = List { path: PATH, version: ctx.version, paging: Paging::Offset, limit: PAGE_LIMIT };
        ctx.client.walk_parallel::<DiskPoolAttributes>(list, &[vec![]], ctx.walk(), &mut |items| {
            pools.extend(items.into_iter().filter_map(|it| {
                let mut a = it.attributes?;
                a.name = a.name.or(it.id);
                a.name.is_some().then_some(a)
            }))
        })?;
        let pools = super::sorted_unique(pools, |p| p.name.clone().unwrap_or_default());
        if !ctx.commit() {
            return Err(ApiError::Timeout { path: PATH.into(), detail: "collection abandoned".into() });
        }
        self.pools = pools;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        for p in &self.pools {
            let name = p.name.as_deref().unwrap_or_default();
            let category = p.storage_category.as_deref().unwrap_or_default();
            let base = [("site", site), ("pool_name", name), ("storage_category", category)];
            let with_state = |state: &str, fam: Fam, v: f64, out: &mut Samples| {
                out.sample(
                    fam,
                    &[("site", site), ("pool_name", name), ("storage_category", category), ("state", state)],
                    v,
                )
            };
            for (state, n) in volume_states(p) {
                with_state(&state, Fam::DiskPoolVolumes, n, out);
            }
            let current = p.disk_pool_state.as_deref().map(str::to_ascii_uppercase);
            for state in POOL_STATES {
                with_state(state, Fam::DiskPoolState, f64::from(current.as_deref() == Some(state)), out);
            }
            if let Some(other) = current.as_deref().filter(|s| !POOL_STATES.contains(s)) {
                with_state(other, Fam::DiskPoolState, 1.0, out);
            }
            let gauges = [
                (Fam::DiskPoolUsable, p.usable_size_bytes),
                (Fam::DiskPoolUsed, p.used_capacity_bytes),
                (Fam::DiskPoolAvailable, p.available_space_bytes),
                (Fam::DiskPoolRaw, p.raw_size_bytes),
                (Fam::DiskPoolHighWater, p.high_water_mark.map(|v| v / 100.0)),
                (Fam::DiskPoolLowWater, p.low_water_mark.map(|v| v / 100.0)),
                (Fam::DiskPoolReadOnly, p.read_only.map(f64::from)),
            ];
            for (fam, v) in gauges {
                if let Some(v) = v {
                    out.sample(fam, &base, v);
                }
            }
            if let (Some(used), Some(usable)) = (p.used_capacity_bytes, p.usable_size_bytes.filter(|u| *u > 0.0)) {
                out.sample(Fam::DiskPoolUsedRatio, &base, used / usable);
            }
            for v in p.disk_volumes.iter().flatten() {
                let Some(volume) = v.name.as_deref() else { continue };
                let labels = [("site", site), ("pool_name", name), ("volume", volume)];
                let up = v.state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("UP"));
                out.sample(Fam::DiskVolumeUp, &labels, f64::from(up));
                if let Some(free) = v.free_size_bytes {
                    out.sample(Fam::DiskVolumeFree, &labels, free);
                }
                if let Some(raw) = v.raw_size_bytes {
                    out.sample(Fam::DiskVolumeRaw, &labels, raw);
                }
            }
        }
    }
}
