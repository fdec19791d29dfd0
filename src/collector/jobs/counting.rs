//! Exactly-once counting of finished jobs: the lifetime counters and duration histograms, and the ledger of the
//! jobs already counted, which no NetBackup answer can shrink.

use super::record::{Job, Sym};
use super::DURATION_BUCKETS;
use crate::exposition::Histogram;
use crate::netbackup::time::EpochMs;
use std::collections::HashMap;

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub jobs: u64,
    pub bytes: f64,
}

/// What counted jobs added up to in the life of the process, and which jobs those were.
pub struct Counter {
    /// The exporter's start rounded down to the second (NetBackup's `endTime` resolution): jobs that ended
    /// earlier are the baseline.
    since: EpochMs,
    /// The earliest `endTime` a job may have and still be counted; it only moves forward.
    floor: EpochMs,
    /// The counted jobs: `jobId` → `endTime` (or the moment it was seen, for a `DONE` job without one). Merged,
    /// never replaced; an entry leaves only once its `endTime` is below `floor`, where nothing can count it again.
    marks: HashMap<i64, EpochMs>,
    /// (action, policy_type, status) → totals.
    pub totals: HashMap<(Sym, Sym, Option<i32>), Totals>,
    /// (action, policy_type) → durations.
    pub durations: HashMap<(Sym, Sym), Histogram>,
}

impl Counter {
    /// A counter for an exporter that started at `started` (epoch ms).
    pub fn new(started: EpochMs) -> Self {
        let since = started.div_euclid(1000) * 1000;
        Counter { since, floor: since, marks: HashMap::new(), totals: HashMap::new(), durations: HashMap::new() }
    }

    /// Moves the floor to `now − horizon` (never back, never before the start) and forgets marks below it.
    pub fn advance(&mut self, now: EpochMs, horizon: EpochMs) {
        let floor = self.since.max(now - horizon);
        if floor > self.floor {
            self.floor = floor;
            self.marks.retain(|_, end| *end >= floor);
        }
    }

    /// How many jobs the ledger holds (for the memory figures).
    pub fn marks(&self) -> usize {
        self.marks.len()
    }

    /// Offers a job seen in an answer: counted if it is `done`, not counted before and ended at or after the
    /// floor. `loaded` is false at the first load (a `DONE` job without `endTime` is then the baseline).
    pub fn offer(&mut self, id: i64, job: &Job, done: Sym, loaded: bool, now: EpochMs) {
        if job.state != done {
            return;
        }
        // Every label set of a finished job exists (at 0 for the baseline), so the first increment is visible.
        let t = self.totals.entry((job.action, job.policy_type, job.status)).or_default();
        let h = self.durations.entry((job.action, job.policy_type)).or_insert_with(|| Histogram::new(DURATION_BUCKETS));
        if self.marks.contains_key(&id) {
            return;
        }
        let counts = match job.end {
            Some(end) if end < self.floor => return,
            Some(end) => {
                self.marks.insert(id, end);
                true
            }
            None => {
                self.marks.insert(id, now);
                loaded
            }
        };
        if counts {
            t.jobs += 1;
            t.bytes += job.kilobytes as f64 * 1024.0;
            if let Some(s) = job.elapsed {
                h.observe(f64::from(s));
            }
        }
    }
}
