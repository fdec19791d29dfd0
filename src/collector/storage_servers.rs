//! Storage-server collector: state, type and version of every storage server, and MSDP pool capacity and
//! deduplication, from all pages of `/storage/storage-servers`, once per cache TTL.
//!
//! Series carry `{site, storage_server}` (plus `storage_category` on the state and info series): one set per storage
//! server configured on the primary (tens). MSDP series exist only for servers that report `msdpAttributes`.

use super::{committed, offset_items, state_set, Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::StorageServerAttributes;
use crate::netbackup::ApiError;
use std::time::Duration;

/// Largest page the storage-servers endpoint allows.
const PAGE_LIMIT: u32 = 100;
/// The endpoint, also the request counters' `endpoint` label.
const PATH: &str = "/storage/storage-servers";
/// `storageServerState` values the spec documents.
const STATES: [&str; 2] = ["UP", "DOWN"];

pub struct StorageServersCollector {
    ttl: Duration,
    servers: Vec<StorageServerAttributes>,
}

impl StorageServersCollector {
    pub fn new(ttl: Duration) -> Self {
        StorageServersCollector { ttl, servers: Vec::new() }
    }
}

impl Collector for StorageServersCollector {
    fn source(&self) -> &'static str {
        "storage_servers"
    }

    fn permission(&self) -> &'static str {
        "|STORAGE|STORAGE-SERVERS| View"
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
        // The item id is `<sType>:<name>`: the name when the attributes lack one.
        let servers = offset_items(ctx, PATH, PAGE_LIMIT, |id, mut a: StorageServerAttributes| {
            a.name = a.name.or_else(|| id.map(|i| i.split_once(':').map_or(i.clone(), |(_, n)| n.to_string())));
            a.name.is_some().then_some(a)
        })?;
        committed(ctx, PATH)?;
        let servers = super::sorted_unique(servers, |s| {
            format!("{}\0{}", s.name.as_deref().unwrap_or_default(), s.s_type.as_deref().unwrap_or_default())
        });
        self.servers = servers;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        for s in &self.servers {
            let name = s.name.as_deref().unwrap_or_default();
            let category = s.storage_category.as_deref().unwrap_or_default();
            let labels = [("site", site), ("storage_server", name), ("storage_category", category)];
            state_set(out, Fam::StorageServerState, &labels, ("state", &STATES), s.storage_server_state.as_deref());
            let info = [
                ("site", site),
                ("storage_server", name),
                ("storage_category", category),
                ("server_type", s.s_type.as_deref().unwrap_or_default()),
                ("version", s.nbu_host_version.as_deref().unwrap_or_default()),
            ];
            out.sample(Fam::StorageServerInfo, &info, 1.0);
            let Some(msdp) = &s.msdp_attributes else { continue };
            let base = [("site", site), ("storage_server", name)];
            if let Some(p) = &msdp.storage_pool_details {
                let gauges = [
                    (Fam::MsdpPoolSize, p.size_bytes),
                    (Fam::MsdpPoolUsed, p.used_space_bytes),
                    (Fam::MsdpPoolAvailable, p.available_space_bytes),
                    (Fam::MsdpPoolRaw, p.raw_size_bytes),
                    (Fam::MsdpPoolReserved, p.reserved_space_bytes),
                ];
                for (fam, v) in gauges {
                    if let Some(v) = v {
                        out.sample(fam, &base, v);
                    }
                }
                if let (Some(used), Some(size)) = (p.used_space_bytes, p.size_bytes.filter(|s| *s > 0.0)) {
                    out.sample(Fam::MsdpPoolUsedRatio, &base, used / size);
                }
            }
            if let Some(d) = msdp.deduplication_ratio_percentage {
                out.sample(Fam::MsdpDedupPercent, &base, d);
            }
        }
    }
}
