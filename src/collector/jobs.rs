//! Job collector: an in-memory job store refreshed incrementally from `/admin/jobs`, and the job metrics derived from it.
//!
//! # Algorithm
//!
//! The store maps `jobId` to a compact record (interned strings, integers; no raw JSON). The *window* is
//! `max(scrapingInterval, collectionInterval)`.
//!
//! * **Full load** (first poll, every [`FULL_RESYNC`], and every poll on API versions before 10.0, which have no
//!   `lastUpdateTime`): fetch `endTime ge <now − window> or endTime eq 1970-01-01T00:00:00.000Z`, i.e. every job
//!   that finished inside the window plus every unfinished job (NetBackup writes epoch zero as the end time of a job
//!   that has not ended). The result replaces the store, so jobs NetBackup no longer lists disappear.
//! * **Incremental** (API ≥ 10.0): fetch only `lastUpdateTime ge <watermark − OVERLAP>` and upsert. The watermark
//!   is the NetBackup server's own clock (HTTP `Date` of the first page) when the previous poll started, so clock
//!   skew between exporter and primary does not lose updates (without a `Date` header: the newest `lastUpdateTime`
//!   seen). The overlap is [`OVERLAP`] (the `Date` header's one-second resolution and commit delays) plus the
//!   previous poll's duration. A job therefore crosses the API about once per change, not once per poll.
//! * **Eviction** after every poll: finished jobs whose `endTime` is before the window start leave the store, once
//!   no later incremental poll can return them again: a job stays while its `lastUpdateTime` is newer than the
//!   watermark minus [`OVERLAP`] and `collectionTimeout` (the longest a poll can last, so the widest overlap). A
//!   job evicted earlier could come back and be counted twice.
//!
//! # Counting (exactly once, from the exporter's start)
//!
//! A job is *counted* the first time it is seen in state `DONE`: it is added once to `nbu_jobs_finished_total` /
//! `nbu_jobs_transferred_bytes_total` and observed once in the `nbu_job_duration_seconds` histogram, if its
//! `endTime` is at or after the exporter's start (the exporter's clock). Jobs that had already finished when the
//! exporter started are the baseline: marked counted without adding anything, but their label sets appear at 0 so
//! a later increment is visible to `increase()`. A `DONE` job without an `endTime` counts unless it was there at
//! the first load. Counting happens after a whole poll succeeded and was committed, so a poll that fails or is
//! abandoned half-way can neither lose nor double-count; re-fetching a counted job never counts it again. Window
//! gauges are computed from the store when the collector renders.

use super::{Collector, Ctx};
use crate::config::ApiVersion;
use crate::exposition::{Fam, Histogram, Samples};
use crate::netbackup::models::JobAttributes;
use crate::netbackup::time::{format_timestamp, now_ms, parse_duration, parse_set_timestamp, EpochMs};
use crate::netbackup::{ApiError, List, Paging};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Largest page `/admin/jobs` allows.
const PAGE_LIMIT: u32 = 100;
/// How far before the watermark an incremental poll starts, on top of the previous poll's duration.
pub const OVERLAP: Duration = Duration::from_secs(10);
/// A full reload this often catches jobs that vanished from NetBackup without an update.
pub const FULL_RESYNC: Duration = Duration::from_secs(6 * 3600);
/// The first API version whose jobs carry (and filter on) `lastUpdateTime`.
const INCREMENTAL_SINCE: ApiVersion = ApiVersion::new(10, 0);
/// The first API version whose `/admin/jobs` pages by cursor.
const CURSOR_SINCE: ApiVersion = ApiVersion::new(9, 0);
/// Job duration histogram bounds in seconds: 1 min … 1 day.
pub const DURATION_BUCKETS: &[f64] = &[60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0];
/// NetBackup's job states: each reads 0 for every action in the store rather than vanishing when it empties.
const STATES: [&str; 6] = ["QUEUED", "ACTIVE", "REQUEUED", "DONE", "SUSPENDED", "INCOMPLETE"];

type Sym = u32;

/// A small string interner: job types, policy types and states repeat across thousands of jobs.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn get(&mut self, s: Option<&str>) -> Sym {
        let s = s.unwrap_or("");
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    fn name(&self, id: Sym) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

/// One job as the exporter keeps it: 72 bytes, plus 8 for the key and the map's own overhead (see docs/metrics.md,
/// "Memory").
#[derive(Debug, Clone, Copy)]
struct Job {
    action: Sym,
    policy_type: Sym,
    state: Sym,
    status: Option<i32>,
    queue_reason: Option<i32>,
    kilobytes: i64,
    files: i64,
    dedup: Option<f32>,
    /// `endTime` in epoch ms; `None` while the job runs (NetBackup sends epoch zero).
    end: Option<EpochMs>,
    elapsed: Option<f32>,
    /// `lastUpdateTime` in epoch ms (0 when absent): of two copies of a job, the newer wins.
    updated: EpochMs,
    counted: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    jobs: u64,
    bytes: f64,
}

/// What a counted job adds to, kept for the life of the process.
#[derive(Default)]
struct Lifetime {
    /// (action, policy_type, status) → totals.
    totals: HashMap<(Sym, Sym, Option<i32>), Totals>,
    /// (action, policy_type) → durations.
    durations: HashMap<(Sym, Sym), Histogram>,
}

impl Lifetime {
    /// Counts `job` if it is newly `DONE`; `loaded` is false at the first load, `since` the exporter's start.
    fn count(&mut self, done: Sym, job: &mut Job, before: bool, loaded: bool, since: EpochMs) {
        job.counted = before;
        if job.counted || job.state != done {
            return;
        }
        job.counted = true;
        let t = self.totals.entry((job.action, job.policy_type, job.status)).or_default();
        let h = self.durations.entry((job.action, job.policy_type)).or_insert_with(|| Histogram::new(DURATION_BUCKETS));
        let counts = match job.end {
            Some(e) => e >= since,
            None => loaded,
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

pub struct JobsCollector {
    interval: Duration,
    window: Duration,
    /// The exporter's start (epoch ms): jobs that finished earlier are the baseline, not counted.
    since: EpochMs,
    jobs: HashMap<i64, Job>,
    strings: Interner,
    done: Sym,
    queued: Sym,
    states: [Sym; STATES.len()],
    lifetime: Lifetime,
    watermark: Option<EpochMs>,
    /// The "no jobs at all, probably RBAC" warning is given once.
    warned_empty: bool,
    last_poll: Duration,
    last_full: Option<Instant>,
}

fn status_label(s: Option<i32>) -> String {
    s.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

impl JobsCollector {
    /// A collector polling every `interval`, with gauges over `window`, counting jobs that finish from `since`.
    pub fn new(interval: Duration, window: Duration, since: EpochMs) -> Self {
        let mut strings = Interner::default();
        let states = STATES.map(|s| strings.get(Some(s)));
        let (done, queued) = (strings.get(Some("DONE")), strings.get(Some("QUEUED")));
        JobsCollector {
            interval,
            window,
            since,
            jobs: HashMap::new(),
            strings,
            done,
            queued,
            states,
            lifetime: Lifetime::default(),
            watermark: None,
            warned_empty: false,
            last_poll: Duration::ZERO,
            last_full: None,
        }
    }

    fn window_start(&self, now: EpochMs) -> EpochMs {
        now - self.window.as_millis() as EpochMs
    }

    /// True when a finished job has left the window and no later poll can return it again.
    fn evictable(&self, j: &Job, window_start: EpochMs, refetch_from: Option<EpochMs>) -> bool {
        j.state == self.done
            && j.end.is_some_and(|e| e < window_start)
            && refetch_from.is_none_or(|from| j.updated < from)
    }

    /// Applies one successful poll: a full load replaces the store, an incremental one upserts. `refetch_from` is
    /// the oldest `lastUpdateTime` a later incremental poll may return (`None` without incremental polls).
    fn apply(&mut self, mut batch: HashMap<i64, Job>, full: bool, now: EpochMs, refetch_from: Option<EpochMs>) {
        let window_start = self.window_start(now);
        let loaded = self.last_full.is_some();
        let (done, since) = (self.done, self.since);
        if full {
            for (id, job) in batch.iter_mut() {
                let before = self.jobs.get(id).is_some_and(|j| j.counted);
                self.lifetime.count(done, job, before, loaded, since);
            }
            // Counted jobs a later poll may still return stay, so that they are never counted twice.
            for (id, job) in &self.jobs {
                let refetchable = refetch_from.is_some_and(|from| job.updated >= from);
                if job.state == done && job.counted && refetchable && !batch.contains_key(id) {
                    batch.insert(*id, *job);
                }
            }
            self.jobs = batch;
        } else {
            for (id, mut job) in batch {
                let existing = self.jobs.get(&id);
                if existing.is_some_and(|e| e.updated > job.updated) {
                    continue; // an older copy than the one in the store
                }
                let before = existing.is_some_and(|j| j.counted);
                self.lifetime.count(done, &mut job, before, loaded, since);
                self.jobs.insert(id, job);
            }
        }
        let evict: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, j)| self.evictable(j, window_start, refetch_from))
            .map(|(id, _)| *id)
            .collect();
        for id in evict {
            self.jobs.remove(&id);
        }
    }

    /// The filters of a full load: unfinished jobs, and finished ones in `slices` equal `endTime` ranges of the
    /// window (the last one open-ended), so `concurrency` walks can run at once. One slice: the single filter.
    fn full_filters(&self, now: EpochMs, slices: usize) -> Vec<String> {
        let start = self.window_start(now);
        if slices <= 1 {
            return vec![format!("endTime ge {} or endTime eq 1970-01-01T00:00:00.000Z", format_timestamp(start))];
        }
        let step = ((now - start) / slices as EpochMs).max(1);
        let mut out = vec!["endTime eq 1970-01-01T00:00:00.000Z".to_string()];
        for i in 0..slices as EpochMs {
            let from = format_timestamp(start + i * step);
            out.push(if i + 1 == slices as EpochMs {
                format!("endTime ge {from}")
            } else {
                format!("endTime ge {from} and endTime lt {}", format_timestamp(start + (i + 1) * step))
            });
        }
        out
    }
}

/// Time slices of a full load: one (a single filter) when sequential; otherwise one per 5 minutes of the window
/// (jobs cluster in backup windows, so many small slices keep every request busy until the end), at least two per
/// concurrent request and at most 64. A full load happens at start and every [`FULL_RESYNC`], so the few extra
/// requests for empty slices do not matter.
fn slices(concurrency: usize, window: Duration) -> usize {
    if concurrency <= 1 {
        1
    } else {
        ((window.as_secs() / 300) as usize).clamp(2 * concurrency, 64)
    }
}

/// The compact record of one job, with `strings` interning its repeated names.
fn record(strings: &mut Interner, a: &JobAttributes) -> Option<(i64, Job)> {
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
        counted: false,
    };
    Some((id, job))
}

/// Adds a job to a poll's batch; of two copies (a job that moved between time slices during the walk), the one
/// with the later `lastUpdateTime` stays.
fn merge(batch: &mut HashMap<i64, Job>, id: i64, job: Job) {
    match batch.entry(id) {
        std::collections::hash_map::Entry::Occupied(mut e) => {
            if job.updated >= e.get().updated {
                e.insert(job);
            }
        }
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(job);
        }
    }
}

impl Collector for JobsCollector {
    fn source(&self) -> &'static str {
        "jobs"
    }

    fn permission(&self) -> &'static str {
        "|MANAGE|JOBS| View"
    }

    fn endpoints(&self) -> &'static [&'static str] {
        &["/admin/jobs"]
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn reconfigure(&mut self, t: &super::Timings) {
        self.interval = t.collection_interval;
        self.window = t.job_window;
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let started_local = now_ms();
        let started = Instant::now();
        let incremental_api = ctx.version >= INCREMENTAL_SINCE;
        let full =
            !incremental_api || self.watermark.is_none() || self.last_full.is_none_or(|t| t.elapsed() >= FULL_RESYNC);
        let paging = if ctx.version >= CURSOR_SINCE { Paging::Cursor } else { Paging::Offset };
        let filters = match self.watermark {
            Some(w) if !full => {
                let overlap = (OVERLAP + self.last_poll).as_millis() as EpochMs;
                vec![format!("lastUpdateTime ge {}", format_timestamp(w - overlap))]
            }
            // Cursor paging parallelises by time slice, offset paging by page (with one filter).
            _ => self.full_filters(
                started_local,
                if paging == Paging::Cursor { slices(ctx.concurrency, self.window) } else { 1 },
            ),
        };
        let queries: Vec<Vec<(&'static str, String)>> = filters.into_iter().map(|f| vec![("filter", f)]).collect();
        // Pages become compact records as they arrive: no page outlives its callback.
        let mut batch: HashMap<i64, Job> = HashMap::new();
        let (mut items, mut newest_update) = (0usize, None::<EpochMs>);
        let strings = &mut self.strings;
        let list = List { path: "/admin/jobs", version: ctx.version, paging, limit: PAGE_LIMIT };
        let stats = ctx.client.walk_parallel::<JobAttributes>(list, &queries, ctx.walk(), &mut |page| {
            for a in page.into_iter().filter_map(|it| it.attributes) {
                items += 1;
                if let Some((id, job)) = record(strings, &a) {
                    newest_update = newest_update.max(Some(job.updated).filter(|u| *u > 0));
                    merge(&mut batch, id, job);
                }
            }
        })?;
        if items > 0 && batch.is_empty() {
            return Err(ApiError::Decode { path: "/admin/jobs".into(), detail: "jobs without jobId".into() });
        }
        log::debug!(
            "site {}: {} poll fetched {} jobs in {} pages ({} slice(s)); store holds {}",
            ctx.site,
            if full { "full" } else { "incremental" },
            batch.len(),
            stats.pages,
            queries.len(),
            self.jobs.len()
        );
        if !ctx.commit() {
            return Err(ApiError::Timeout { path: "/admin/jobs".into(), detail: "collection abandoned".into() });
        }
        if full && batch.is_empty() && !self.warned_empty {
            // NetBackup answers 200 with no data, not 401, when the key's role lacks the jobs permission.
            log::warn!(
                "site {}: NetBackup returned no jobs at all; if its Activity Monitor shows jobs, the API key's role \
                 probably lacks the view permission on jobs (|MANAGE|JOBS|)",
                ctx.site
            );
            self.warned_empty = true;
        }
        let watermark = stats.server_time.or(newest_update).or(self.watermark).or(Some(started_local));
        let last_poll = started.elapsed();
        let widest_overlap = (OVERLAP + ctx.collection_timeout().max(last_poll)).as_millis() as EpochMs;
        let refetch_from = incremental_api.then(|| watermark.unwrap_or(started_local) - widest_overlap);
        self.apply(batch, full, now_ms(), refetch_from);
        if full {
            self.last_full = Some(Instant::now());
        }
        self.watermark = watermark;
        self.last_poll = last_poll;
        Ok(())
    }

    fn render(&self, site: &str, out: &mut Samples) {
        let window_start = self.window_start(now_ms());
        let mut count: HashMap<(Sym, Sym, Option<i32>), (u64, f64)> = HashMap::new();
        let mut status: HashMap<(Sym, Option<i32>), u64> = HashMap::new();
        let mut files: HashMap<(Sym, Sym), u64> = HashMap::new();
        let mut dedup: HashMap<(Sym, Sym), (f64, u64)> = HashMap::new();
        let mut state: HashMap<(Sym, Sym), u64> = HashMap::new();
        let mut queued: HashMap<(Sym, Option<i32>), u64> = HashMap::new();
        for j in self.jobs.values() {
            if j.state == self.done && j.end.is_some_and(|e| e < window_start) {
                continue; // kept only so that it is not counted twice
            }
            for s in self.states {
                state.entry((j.action, s)).or_default();
            }
            *state.entry((j.action, j.state)).or_default() += 1;
            if j.state == self.queued {
                *queued.entry((j.action, j.queue_reason)).or_default() += 1;
            }
            if j.state != self.done {
                continue;
            }
            let c = count.entry((j.action, j.policy_type, j.status)).or_default();
            c.0 += 1;
            c.1 += j.kilobytes as f64 * 1024.0;
            *status.entry((j.action, j.status)).or_default() += 1;
            *files.entry((j.action, j.policy_type)).or_default() += j.files as u64;
            if let Some(d) = j.dedup {
                let e = dedup.entry((j.action, j.policy_type)).or_default();
                e.0 += f64::from(d);
                e.1 += 1;
            }
        }
        let n = |s: Sym| self.strings.name(s);
        for (&(a, p, s), &(c, b)) in sorted(&count) {
            let st = status_label(s);
            let labels = [("site", site), ("action", n(a)), ("policy_type", n(p)), ("status", st.as_str())];
            out.sample(Fam::JobsCount, &labels, c as f64);
            out.sample(Fam::JobsBytes, &labels, b);
        }
        for (&(a, s), &c) in sorted(&status) {
            let st = status_label(s);
            out.sample(Fam::StatusCount, &[("site", site), ("action", n(a)), ("status", st.as_str())], c as f64);
        }
        for (&(a, p), &c) in sorted(&files) {
            out.sample(Fam::JobsFiles, &[("site", site), ("action", n(a)), ("policy_type", n(p))], c as f64);
        }
        for (&(a, s), &c) in sorted(&state) {
            out.sample(Fam::JobsState, &[("site", site), ("action", n(a)), ("state", n(s))], c as f64);
        }
        for (&(a, r), &c) in sorted(&queued) {
            let reason = r.map_or_else(|| "unknown".to_string(), |v| v.to_string());
            out.sample(Fam::JobsQueued, &[("site", site), ("action", n(a)), ("reason", reason.as_str())], c as f64);
        }
        for (&(a, p), &(sum, c)) in sorted(&dedup) {
            out.sample(Fam::JobsDedup, &[("site", site), ("action", n(a)), ("policy_type", n(p))], sum / c as f64);
        }
        for (&(a, p), h) in sorted(&self.lifetime.durations) {
            out.histogram(Fam::JobDuration, &[("site", site), ("action", n(a)), ("policy_type", n(p))], h);
        }
        for (&(a, p, s), t) in sorted(&self.lifetime.totals) {
            let st = status_label(s);
            let labels = [("site", site), ("action", n(a)), ("policy_type", n(p)), ("status", st.as_str())];
            out.sample(Fam::JobsFinishedTotal, &labels, t.jobs as f64);
            out.sample(Fam::JobsBytesTotal, &labels, t.bytes);
        }
        out.sample(Fam::JobsInStore, &[("site", site)], self.jobs.len() as f64);
    }
}

/// Map entries in a fixed order, so the exposition is stable from scrape to scrape.
fn sorted<K: Ord, V>(m: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbackup::time::format_timestamp;

    fn job(id: i64, state: &str, status: Option<i64>, end: Option<EpochMs>, kb: i64) -> JobAttributes {
        JobAttributes {
            job_id: Some(id),
            job_type: Some("BACKUP".into()),
            policy_type: Some("STANDARD".into()),
            state: Some(state.into()),
            status,
            kilobytes_transferred: Some(kb),
            elapsed_time: Some("PT2M".into()),
            end_time: Some(end.map_or("1970-01-01T00:00:00.000Z".into(), format_timestamp)),
            last_update_time: Some(format_timestamp(end.unwrap_or(0).max(1))),
            ..Default::default()
        }
    }

    impl JobsCollector {
        /// The test form of a poll: attributes in, records merged and applied.
        fn apply_attrs(&mut self, attrs: Vec<JobAttributes>, full: bool, now: EpochMs) {
            let mut batch = HashMap::new();
            for a in &attrs {
                if let Some((id, job)) = record(&mut self.strings, a) {
                    merge(&mut batch, id, job);
                }
            }
            self.apply(batch, full, now, Some(now - 60_000));
            if full {
                self.last_full = Some(Instant::now());
            }
        }
    }

    fn render(c: &JobsCollector) -> String {
        let fams = crate::exposition::Families::new(&crate::exposition::HelpContext {
            cache_ttl: "5m".into(),
            job_window: "1h".into(),
            up_window: "1m10s".into(),
        });
        let mut s = Samples::default();
        c.render("x", &mut s);
        let mut out = Vec::new();
        fams.encode(&[&s], &[], &mut out);
        String::from_utf8(out).unwrap()
    }

    const LABELS: &str = "site=\"x\",action=\"BACKUP\",policy_type=\"STANDARD\"";

    #[test]
    fn counts_each_job_finishing_after_the_start_once_and_never_reads_missing_status_as_zero() {
        let now = now_ms();
        let mut c = JobsCollector::new(Duration::from_secs(60), Duration::from_secs(3600), now - 500);
        // Job 2 finished before the exporter started: the baseline, at 0. Job 1 is running.
        c.apply_attrs(vec![job(1, "ACTIVE", None, None, 10), job(2, "DONE", Some(0), Some(now - 1000), 1)], true, now);
        let text = render(&c);
        assert!(text.contains(&format!("nbu_jobs_finished_total{{{LABELS},status=\"0\"}} 0\n")), "{text}");
        assert!(text.contains(&format!("nbu_job_duration_seconds_count{{{LABELS}}} 0\n")), "{text}");
        for _ in 0..5 {
            c.apply_attrs(vec![job(2, "DONE", Some(0), Some(now - 1000), 1)], false, now);
        }
        c.apply_attrs(vec![job(1, "DONE", Some(1), Some(now), 10)], false, now);
        c.apply_attrs(vec![job(1, "DONE", Some(1), Some(now), 10)], true, now);
        let text = render(&c);
        assert!(text.contains(&format!("nbu_jobs_finished_total{{{LABELS},status=\"0\"}} 0\n")), "{text}");
        assert!(text.contains(&format!("nbu_jobs_finished_total{{{LABELS},status=\"1\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("nbu_jobs_transferred_bytes_total{{{LABELS},status=\"1\"}} 10240\n")));
        assert!(text.contains(&format!("nbu_job_duration_seconds_bucket{{{LABELS},le=\"300\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("nbu_job_duration_seconds_sum{{{LABELS}}} 120\n")), "{text}");
        assert!(!text.contains("status=\"unknown\""));
    }

    #[test]
    fn evicts_jobs_that_left_the_window_but_keeps_unfinished_ones_and_empty_states_read_zero() {
        let now = now_ms();
        let mut c = JobsCollector::new(Duration::from_secs(60), Duration::from_secs(3600), now - 10_000);
        let old = now - 2 * 3600 * 1000;
        c.apply_attrs(vec![job(1, "DONE", Some(0), Some(old), 1), job(2, "QUEUED", None, None, 0)], false, now);
        let text = render(&c);
        assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"QUEUED\"} 1\n"), "{text}");
        assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"DONE\"} 0\n"), "{text}");
        assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"ACTIVE\"} 0\n"), "{text}");
        let old_job = format!("nbu_jobs_finished_total{{{LABELS},status=\"0\"}} 0\n");
        assert!(text.contains(&old_job), "an old job is not counted, its labels read 0: {text}");
        assert!(text.contains("nbu_jobs_queued_count{site=\"x\",action=\"BACKUP\",reason=\"unknown\"} 1\n"));
        assert!(text.contains("nbu_exporter_jobs_in_store{site=\"x\"} 1\n"), "{text}");
    }

    #[test]
    fn a_job_a_later_poll_may_return_stays_until_it_cannot_and_is_never_counted_twice() {
        let now = now_ms();
        let mut c = JobsCollector::new(Duration::from_secs(1), Duration::from_secs(1), now - 100_000);
        // Ended 5 s ago: outside the 1 s window, but updated after the refetch bound (now − 60 s).
        let mut a = job(7, "DONE", Some(0), Some(now - 5000), 3);
        a.last_update_time = Some(format_timestamp(now - 5000));
        c.apply_attrs(vec![a.clone()], false, now);
        c.apply_attrs(vec![], true, now); // a full load no longer lists it: kept, it is still refetchable
        c.apply_attrs(vec![a], false, now);
        let text = render(&c);
        assert!(text.contains(&format!("nbu_jobs_finished_total{{{LABELS},status=\"0\"}} 1\n")), "{text}");
        assert!(!text.contains("nbu_jobs_count{"), "outside the window: no gauge: {text}");
        c.apply(HashMap::new(), false, now, Some(now - 1000));
        assert!(c.jobs.is_empty(), "evicted once no poll can return it");
    }
}
