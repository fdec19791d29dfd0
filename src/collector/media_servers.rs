//! Media-server collector: machine up, host status and NetBackup version of every media server, from all pages of
//! `/config/media-servers`, once per cache TTL.
//!
//! Series carry `{site, media_server}`: one set per media server known to the primary (tens, rarely hundreds).
//! Status series exist at 0 for every status the spec documents, so `nbu_media_server_status{status="OFFLINE"} == 1`
//! alerts see a server go offline.

use super::{committed, offset_items, state_set, Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::MediaServerAttributes;
use crate::netbackup::ApiError;
use std::time::Duration;

/// Largest page the media-servers endpoint allows.
const PAGE_LIMIT: u32 = 500;
/// The endpoint, also the request counters' `endpoint` label.
const PATH: &str = "/config/media-servers";
/// `status.name` values the spec documents.
const STATUSES: [&str; 6] =
    ["ACTIVE_FOR_TAPE_AND_DISK", "ACTIVE_FOR_TAPE", "ACTIVE_FOR_DISK", "OFFLINE", "DEACTIVATED", "VIRTUAL_NODE"];

pub struct MediaServersCollector {
    ttl: Duration,
    servers: Vec<MediaServerAttributes>,
}

impl MediaServersCollector {
    pub fn new(ttl: Duration) -> Self {
        MediaServersCollector { ttl, servers: Vec::new() }
    }
}

impl Collector for MediaServersCollector {
    fn source(&self) -> &'static str {
        "media_servers"
    }

    fn permission(&self) -> &'static str {
        "|MANAGE|MEDIA-SERVERS| View"
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
        let servers =
            offset_items(ctx, PATH, PAGE_LIMIT, |_, a: MediaServerAttributes| a.host_name.is_some().then_some(a))?;
        committed(ctx, PATH)?;
        let servers = super::sorted_unique(servers, |s| s.host_name.clone().unwrap_or_default());
        self.servers = servers;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        for s in &self.servers {
            let name = s.host_name.as_deref().unwrap_or_default();
            let base = [("site", site), ("media_server", name)];
            if let Some(up) = s.is_machine_up {
                out.sample(Fam::MediaServerUp, &base, f64::from(up));
            }
            let current = s.status.as_ref().and_then(|st| st.name.as_deref());
            state_set(out, Fam::MediaServerStatus, &base, ("status", &STATUSES), current);
            let info = [
                ("site", site),
                ("media_server", name),
                ("version", s.nbu_version.as_deref().unwrap_or_default()),
                ("os_type", s.os_type.as_deref().unwrap_or_default()),
            ];
            out.sample(Fam::MediaServerInfo, &info, 1.0);
        }
    }
}
