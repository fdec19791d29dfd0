//! SLP collector: the storage-lifecycle backlog (images whose SLP copies are not done, per SLP and state, and the
//! backup time of the oldest) from every page of `/catalog/slp-images`, and the SLP inventory from `/config/slps`,
//! once per cache TTL.
//!
//! The backlog is walked as one cursor-paged filter per unfinished `slpImageState` (`NOT_STARTED`, `IN_PROCESS`
//! and their `|INACTIVE` forms), so complete images never cross the API; an image seen twice (its state changed
//! during the walk) counts once. Series carry `{site, slp_name}` (plus `state`): one set per SLP, tens on a real
//! primary. A release without `/config/slps` (404) still reports the backlog.

use super::{committed, offset_items, Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::{SlpAttributes, SlpImageAttributes};
use crate::netbackup::time::{parse_set_timestamp, EpochMs};
use crate::netbackup::{ApiError, List, Paging};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const IMAGES: &str = "/catalog/slp-images";
const SLPS: &str = "/config/slps";
/// Largest pages the endpoints allow.
const IMAGE_PAGE: u32 = 1000;
const SLP_PAGE: u32 = 100;
/// The `slpImageState` values of images with SLP work left, each walked as its own filter.
const BACKLOG_STATES: [&str; 4] = ["NOT_STARTED", "IN_PROCESS", "NOT_STARTED|INACTIVE", "IN_PROCESS|INACTIVE"];

/// One SLP's backlog: images per state (in [`BACKLOG_STATES`] order) and the oldest backup time.
#[derive(Debug, Default, Clone)]
struct Backlog {
    images: [u64; BACKLOG_STATES.len()],
    oldest: Option<EpochMs>,
}

pub struct SlpsCollector {
    ttl: Duration,
    backlog: BTreeMap<String, Backlog>,
    /// `None` when the release has no `/config/slps`.
    slps: Option<Vec<SlpAttributes>>,
    /// The inventory was refused (403): said once.
    warned_inventory: bool,
}

impl SlpsCollector {
    pub fn new(ttl: Duration) -> Self {
        SlpsCollector { ttl, backlog: BTreeMap::new(), slps: None, warned_inventory: false }
    }
}

impl Collector for SlpsCollector {
    fn source(&self) -> &'static str {
        "slps"
    }

    fn permission(&self) -> &'static str {
        "|MANAGE|STORAGE-LIFECYCLE-IMAGES| View (and |PROTECTION|SLPS| View for the inventory)"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &[IMAGES, SLPS]
    }

    fn interval(&self) -> Duration {
        self.ttl
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.ttl = t.ttl(self.source());
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let queries: Vec<Vec<(&'static str, String)>> =
            BACKLOG_STATES.iter().map(|s| vec![("filter", format!("slpImageState eq '{s}'"))]).collect();
        let list = List { path: IMAGES, version: ctx.version, paging: Paging::Cursor, limit: IMAGE_PAGE };
        // backupId → (SLP, state index, backup time); images without a backupId are kept apart.
        let mut seen: HashMap<String, (String, usize, Option<EpochMs>)> = HashMap::new();
        let mut anonymous: Vec<(String, usize, Option<EpochMs>)> = Vec::new();
        ctx.client.walk_parallel::<SlpImageAttributes>(list, &queries, ctx.walk(), &mut |items| {
            for a in items.into_iter().filter_map(|it| it.attributes) {
                let state = a.slp_image_state.as_deref().map(str::to_ascii_uppercase);
                let Some(i) = BACKLOG_STATES.iter().position(|s| Some(*s) == state.as_deref()) else { continue };
                let entry = (a.slp_name.unwrap_or_default(), i, a.backup_time.as_deref().and_then(parse_set_timestamp));
                match a.backup_id {
                    Some(id) => {
                        seen.insert(id, entry);
                    }
                    None => anonymous.push(entry),
                }
            }
        })?;
        let slps = match offset_items(ctx, SLPS, SLP_PAGE, |id, mut a: SlpAttributes| {
            a.slp_name = a.slp_name.or(id);
            a.slp_name.is_some().then_some(a)
        }) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == "unsupported" => None,
            // The backlog does not need the inventory: without its permission, report the backlog alone.
            Err(e) if e.kind() == "forbidden" => {
                if !self.warned_inventory {
                    log::warn!(
                        "site {}: {SLPS} refused ({e}); reporting the SLP backlog without the SLP inventory \
                         (nbu_slp_active, nbu_slp_info) until the API key's role has |PROTECTION|SLPS| View",
                        ctx.site
                    );
                    self.warned_inventory = true;
                }
                None
            }
            Err(e) => return Err(e),
        };
        committed(ctx, IMAGES)?;
        let mut backlog: BTreeMap<String, Backlog> = BTreeMap::new();
        for (slp, i, time) in seen.into_values().chain(anonymous) {
            let b = backlog.entry(slp).or_default();
            b.images[i] += 1;
            b.oldest = match (b.oldest, time) {
                (Some(o), Some(t)) => Some(o.min(t)),
                (o, t) => o.or(t),
            };
        }
        self.backlog = backlog;
        self.slps = slps;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        // Every SLP of the inventory has backlog series, at 0 when it has nothing pending.
        let mut names: Vec<&str> = self.backlog.keys().map(String::as_str).collect();
        names.extend(self.slps.iter().flatten().filter_map(|s| s.slp_name.as_deref()));
        names.sort_unstable();
        names.dedup();
        let empty = Backlog::default();
        for name in names {
            let b = self.backlog.get(name).unwrap_or(&empty);
            for (state, n) in BACKLOG_STATES.iter().zip(b.images) {
                out.sample(Fam::SlpBacklogImages, &[("site", site), ("slp_name", name), ("state", state)], n as f64);
            }
            if let Some(t) = b.oldest {
                out.sample(Fam::SlpBacklogOldest, &[("site", site), ("slp_name", name)], t as f64 / 1000.0);
            }
        }
        for s in self.slps.iter().flatten() {
            let name = s.slp_name.as_deref().unwrap_or_default();
            if let Some(active) = s.active {
                out.sample(Fam::SlpActive, &[("site", site), ("slp_name", name)], f64::from(active));
            }
            let version = s.version_number.map(|v| v.to_string()).unwrap_or_default();
            let info = [
                ("site", site),
                ("slp_name", name),
                ("data_classification", s.data_classification.as_deref().unwrap_or_default()),
                ("version", version.as_str()),
            ];
            out.sample(Fam::SlpInfo, &info, 1.0);
        }
    }
}
