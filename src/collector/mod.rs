//! Collectors: one per NetBackup source, behind one small trait; each fetches into its own state and renders samples.

pub mod jobs;
pub mod storage;

use crate::config::{ApiVersion, ServerConfig};
use crate::exposition::Samples;
use crate::netbackup::{ApiError, Client};
use std::time::Duration;

/// What a collector needs for one collection.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub version: ApiVersion,
    pub site: &'a str,
    /// Requests allowed in flight at once (the site's `concurrency`).
    pub concurrency: usize,
}

/// The server-wide timings collectors follow; a reload may change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub collection_interval: Duration,
    pub job_window: Duration,
    pub cache_ttl: Duration,
}

impl Timings {
    pub fn of(s: &ServerConfig) -> Self {
        Timings { collection_interval: s.collection_interval, job_window: s.job_window(), cache_ttl: s.cache_ttl }
    }
}

/// One source of NetBackup data (`source` label of `nbu_last_scrape_timestamp_seconds`).
pub trait Collector: Send {
    /// The `source` label: `jobs` or `storage`.
    fn source(&self) -> &'static str;
    /// How often this source is fetched.
    fn interval(&self) -> Duration;
    /// Adopts new timings (after a reload) without losing collected state.
    fn reconfigure(&mut self, t: &Timings);
    /// Fetches from NetBackup into the collector's state. On error the previous state is kept intact.
    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError>;
    /// Writes this source's series for `site`.
    fn render(&self, site: &str, out: &mut Samples);
}
