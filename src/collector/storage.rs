//! Storage-unit collector: capacity, limits and capabilities from `/storage/storage-units`, fetched once per cache TTL.

use super::{Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::StorageUnitAttributes;
use crate::netbackup::{ApiError, List, Paging};
use std::time::Duration;

/// Largest page the storage-units endpoint allows.
const PAGE_LIMIT: u32 = 500;

pub struct StorageCollector {
    ttl: Duration,
    units: Vec<StorageUnitAttributes>,
}

impl StorageCollector {
    pub fn new(ttl: Duration) -> Self {
        StorageCollector { ttl, units: Vec::new() }
    }
}

fn is_tape(u: &StorageUnitAttributes) -> bool {
    let eq = |v: &Option<String>| v.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("tape"));
    eq(&u.storage_type) || eq(&u.storage_category)
}

fn flag(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

impl Collector for StorageCollector {
    fn source(&self) -> &'static str {
        "storage"
    }

    fn permission(&self) -> &'static str {
        "|STORAGE|STORAGE-UNITS| View"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &["/storage/storage-units"]
    }

    fn interval(&self) -> Duration {
        self.ttl
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.ttl = t.ttl(self.source());
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let mut units = Vec::new();
        let list =
            List { path: "/storage/storage-units", version: ctx.version, paging: Paging::Offset, limit: PAGE_LIMIT };
        ctx.client.walk_parallel::<StorageUnitAttributes>(list, &[vec![]], ctx.walk(), &mut |items| {
            units.extend(items.into_iter().filter_map(|it| {
                let mut a = it.attributes?;
                a.name = a.name.or(it.id);
                a.name.is_some().then_some(a)
            }))
        })?;
        let units = super::sorted_unique(units, |u| u.name.clone().unwrap_or_default());
        if !ctx.commit() {
            return Err(ApiError::Timeout { path: list.path.into(), detail: "collection abandoned".into() });
        }
        self.units = units;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        for u in &self.units {
            let name = u.name.as_deref().unwrap_or_default();
            let ty = u.storage_server_type.as_deref().or(u.storage_category.as_deref()).unwrap_or_default();
            let base = [("site", site), ("name", name), ("type", ty)];
            out.sample(
                Fam::StorageInfo,
                &[
                    ("site", site),
                    ("name", name),
                    ("type", ty),
                    ("subtype", u.storage_sub_type.as_deref().unwrap_or_default()),
                    ("is_cloud", flag(u.is_cloud_stu)),
                    ("worm_capable", flag(u.worm_capable)),
                    ("use_worm", flag(u.use_worm)),
                    ("replication_capable", flag(u.replication_capable)),
                    ("instant_access", flag(u.instant_access_enabled)),
                ],
                1.0,
            );
            if let Some(v) = u.max_concurrent_jobs {
                out.sample(Fam::StorageMaxJobs, &base, v as f64);
            }
            if let Some(v) = u.max_fragment_size_megabytes {
                out.sample(Fam::StorageMaxFragment, &base, v as f64 * 1024.0 * 1024.0);
            }
            // Tape and cloud units report no capacity: emit nothing rather than a made-up 0.
            if is_tape(u) {
                continue;
            }
            if let Some(v) = u.free_capacity_bytes {
                out.sample(Fam::DiskBytes, &[("site", site), ("name", name), ("type", ty), ("size", "free")], v as f64);
            }
            if let Some(v) = u.used_capacity_bytes {
                out.sample(Fam::DiskBytes, &[("site", site), ("name", name), ("type", ty), ("size", "used")], v as f64);
            }
            if let Some(v) = u.total_capacity_bytes {
                out.sample(Fam::DiskCapacity, &base, v as f64);
            }
        }
    }
}
