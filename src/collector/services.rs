//! Services collector: the state of every NetBackup service (daemon) on the primary and each media server, from
//! `/config/hosts` (server hosts only) and one `/admin/hosts/{hostId}/services` per host, once per cache TTL.
//!
//! Series carry `{site, host}` and `{site, host, service}`: a few dozen services on each of the servers (tens), so
//! hundreds of series. A host whose services cannot be read (it is down, or NetBackup cannot reach it) reads
//! `nbu_service_host_success 0` and has no service series, rather than stale ones; it does not fail the source. A
//! primary that cannot be reached, or that refuses the API key (401, 403), does.

use super::{committed, Collector, Ctx};
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::{HostAttributes, HostsAnswer, Page, ServiceAttributes};
use crate::netbackup::{ApiError, At};
use std::time::{Duration, Instant};

const HOSTS: &str = "/config/hosts";
/// The services endpoint as counted in the request metrics (the host id is not a label).
const SERVICES: &str = "/admin/hosts/{hostId}/services";
/// `status` values the spec documents.
const STATUSES: [&str; 3] = ["RUNNING", "STOPPED", "DISABLED"];
/// The host types whose services are read (clients are not).
const SERVER_TYPES: [&str; 2] = ["PRIMARY_SERVER", "MEDIA_SERVER"];

/// One server host and what its services answer said.
#[derive(Debug, Clone)]
struct HostServices {
    name: String,
    /// `(service, status)`; `None` when the host's services could not be read.
    services: Option<Vec<(String, Option<String>)>>,
}

pub struct ServicesCollector {
    ttl: Duration,
    hosts: Vec<HostServices>,
}

impl ServicesCollector {
    pub fn new(ttl: Duration) -> Self {
        ServicesCollector { ttl, hosts: Vec::new() }
    }
}

/// Errors of one host's services that fail the whole source: the primary itself cannot be reached (a transport
/// error: the site is down, which `nbu_up` must show, not one host), or the key, its role or the API version is
/// refused. An error answer or a timeout (NetBackup cannot reach that host) concerns that host only.
fn fatal(e: &ApiError) -> bool {
    matches!(e.kind(), "transport" | "unauthorized" | "forbidden" | "version")
}

impl Collector for ServicesCollector {
    fn source(&self) -> &'static str {
        "services"
    }

    fn permission(&self) -> &'static str {
        "|MANAGE|HOSTS| View and |MANAGE|HOSTS|PROCESSES| View"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &[HOSTS, SERVICES]
    }

    fn interval(&self) -> Duration {
        self.ttl
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.ttl = t.ttl(self.source());
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let mut servers: Vec<HostAttributes> = Vec::new();
        for t in SERVER_TYPES {
            let filter = [("filter", format!("nbuHostType eq '{t}'"))];
            let (answer, _): (HostsAnswer, _) = ctx.client.get_json(HOSTS, &filter, ctx.version)?;
            servers.extend(answer.hosts.into_iter().flatten().filter(|h| h.uuid.is_some() && h.host_name.is_some()));
        }
        let servers = super::sorted_unique(servers, |h| h.host_name.clone().unwrap_or_default());
        let mut hosts = Vec::with_capacity(servers.len());
        for h in servers {
            let (Some(name), Some(id)) = (h.host_name, h.uuid) else { continue };
            if ctx.attempt.abandoned() || Instant::now() > ctx.attempt.deadline {
                hosts.push(HostServices { name, services: None });
                continue;
            }
            let path = format!("/admin/hosts/{id}/services");
            let services = match ctx.client.get_json::<Page<ServiceAttributes>>(
                At { endpoint: SERVICES, path: &path },
                &[],
                ctx.version,
            ) {
                Ok((page, _)) => Some(
                    page.data
                        .into_iter()
                        .flatten()
                        .filter_map(|it| Some((it.id?, it.attributes.unwrap_or_default().status)))
                        .collect(),
                ),
                Err(e) if fatal(&e) => return Err(e),
                Err(e) => {
                    log::debug!("site {}: services of {name}: {e}", ctx.site);
                    None
                }
            };
            hosts.push(HostServices { name, services });
        }
        committed(ctx, HOSTS)?;
        self.hosts = hosts;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        for h in &self.hosts {
            let host = h.name.as_str();
            out.sample(Fam::ServiceHostSuccess, &[("site", site), ("host", host)], f64::from(h.services.is_some()));
            for (service, status) in h.services.iter().flatten() {
                let labels = [("site", site), ("host", host), ("service", service.as_str())];
                super::state_set(out, Fam::ServiceStatus, &labels, ("status", &STATUSES), status.as_deref());
            }
        }
    }
}
