//! Request accounting of one site: requests per endpoint and answer code, their latency, and when NetBackup last
//! answered (the evidence behind `nbu_up`).

use crate::exposition::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// API request latency buckets in seconds.
pub const REQUEST_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Requests to NetBackup per endpoint (a fixed path, never a full URL) and answer code (`error`: no answer).
#[derive(Debug, Default)]
pub struct ApiStats {
    pub requests: BTreeMap<(&'static str, String), u64>,
    pub durations: BTreeMap<&'static str, Histogram>,
    /// When NetBackup last answered a request with a 2xx status.
    pub last_answer: Option<Instant>,
}

impl ApiStats {
    /// Makes `endpoint`'s `error` counter and latency histogram exist (at 0) before its first request.
    pub fn declare(&mut self, endpoint: &'static str) {
        self.requests.entry((endpoint, "error".to_string())).or_insert(0);
        self.durations.entry(endpoint).or_insert_with(|| Histogram::new(REQUEST_BUCKETS));
    }

    /// Counts one request; `status` is `None` when no answer came.
    pub(super) fn record(&mut self, endpoint: &'static str, status: Option<u16>, took: Duration) {
        let code = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        *self.requests.entry((endpoint, code)).or_default() += 1;
        self.durations.entry(endpoint).or_insert_with(|| Histogram::new(REQUEST_BUCKETS)).observe(took.as_secs_f64());
        if status.is_some_and(|s| (200..300).contains(&s)) {
            self.last_answer = Some(Instant::now());
        }
    }
}
