//! The job store's compact record of one job, built from its attributes, and the interner of its repeated names.

use crate::netbackup::models::JobAttributes;
use crate::netbackup::time::{parse_duration, parse_set_timestamp, EpochMs};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

pub type Sym = u32;

/// A small string interner: job types, policy types and states repeat across thousands of jobs.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn get(&mut self, s: Option<&str>) -> Sym {
        let s = s.unwrap_or("");
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    pub fn name(&self, id: Sym) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

/// One job as the exporter keeps it: 72 bytes, plus 8 for the key and the map's own overhead (see docs/metrics.md,
/// "Memory").
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub action: Sym,
    pub policy_type: Sym,
    pub state: Sym,
    pub status: Option<i32>,
    pub queue_reason: Option<i32>,
    pub kilobytes: i64,
    pub files: i64,
    pub dedup: Option<f32>,
    /// `endTime` in epoch ms; `None` while the job runs (NetBackup sends epoch zero).
    pub end: Option<EpochMs>,
    pub elapsed: Option<f32>,
    /// `lastUpdateTime` in epoch ms (0 when absent): of two copies of a job, the newer wins.
    pub updated: EpochMs,
}

/// The compact record of one job, with `strings` interning its repeated names.
pub fn record(strings: &mut Interner, a: &JobAttributes) -> Option<(i64, Job)> {
    let id = a.job_id?;
    let start = a.start_time.as_deref().and_then(parse_set_timestamp);
    let end = a.end_time.as_deref().and_then(parse_set_timestamp);
    let elapsed = a
        .elapsed_time
        .as_deref()
        .and_then(parse_duration)
        .or_else(|| Some((end? - start?) as f64 / 1000.0))
        .filter(|v| *v >= 0.0)
        .map(|v| v as f32);
    let job = Job {
        action: strings.get(a.job_type.as_deref()),
        policy_type: strings.get(a.policy_type.as_deref()),
        state: strings.get(a.state.as_deref()),
        status: a.status.and_then(|s| i32::try_from(s).ok()),
        queue_reason: a.job_queue_reason.and_then(|s| i32::try_from(s).ok()),
        kilobytes: a.kilobytes_transferred.unwrap_or(0).max(0),
        files: a.number_of_files.unwrap_or(0).max(0),
        dedup: a.dedup_ratio.map(|v| v as f32),
        end,
        elapsed,
        updated: a.last_update_time.as_deref().and_then(parse_set_timestamp).unwrap_or(0),
    };
    Some((id, job))
}

/// Adds a job to a poll's batch; of two copies (a job that moved between time slices during the walk), the one
/// with the later `lastUpdateTime` stays.
pub fn merge(batch: &mut HashMap<i64, Job>, id: i64, job: Job) {
    match batch.entry(id) {
        Entry::Occupied(mut e) => {
            if job.updated >= e.get().updated {
                e.insert(job);
            }
        }
        Entry::Vacant(e) => {
            e.insert(job);
        }
    }
}
