//! The exporter's own process: the moment it started (jobs that finished earlier are not counted) and the standard
//! `process_*` metrics, from the prometheus crate's process collector.

use crate::netbackup::time::{now_ms, EpochMs};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use std::sync::OnceLock;

static START_MS: OnceLock<EpochMs> = OnceLock::new();

/// The exporter's start in epoch ms: fixed by the first call (made first thing in `app::run`).
pub fn start_ms() -> EpochMs {
    *START_MS.get_or_init(now_ms)
}

/// The `process_*` families of this process.
pub struct ProcessMetrics(prometheus::process_collector::ProcessCollector);

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics(prometheus::process_collector::ProcessCollector::for_self())
    }
}

impl ProcessMetrics {
    /// Reads /proc now; families whose source is unreadable are left out.
    pub fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}
