//! Job collector: an in-memory job store refreshed incrementally from `/admin/jobs`, the job metrics derived from
//! it, and exactly-once counting of finished jobs.
//!
//! # Algorithm
//!
//! The store maps `jobId` to a compact record (interned strings, integers; no raw JSON). The *window* is
//! `max(scrapingInterval, collectionInterval)`; the *horizon* is `catchUpHorizon`, at least the window plus
//! `collectionTimeout` and [`OVERLAP`].
//!
//! * **Full load** (first poll, every [`FULL_RESYNC`], every poll on API versions before 10.0, which have no
//!   `lastUpdateTime`, and again after a full load that could not be trusted): fetch
//!   `endTime ge <from> or endTime eq 1970-01-01T00:00:00.000Z`, i.e. every finished job from `from` on plus every
//!   unfinished one (NetBackup writes epoch zero as the end time of a job that has not ended). `from` is the window
//!   start, or, after polls failed, the last successful poll's watermark minus the overlap, so jobs that finished
//!   during an outage are fetched once NetBackup answers again; never earlier than the horizon. The answer replaces
//!   the store, so jobs NetBackup no longer lists disappear from the gauges. An **empty answer** is not trusted as
//!   the first load, nor while the store holds jobs it should have listed (unfinished ones, or finished from `from`
//!   on): NetBackup sends `200` with `data: []` without RBAC and on transient server errors. Then the store and the
//!   watermark stay, and the next poll is a full load again.
//! * **Incremental** (API ≥ 10.0): fetch only `lastUpdateTime ge <watermark − overlap>` (never before the horizon)
//!   and upsert. The watermark is the NetBackup server's own clock (HTTP `Date` of the first page) when the
//!   previous poll started, so clock skew between exporter and primary does not lose updates (without a `Date`
//!   header: the newest `lastUpdateTime` seen). The overlap is [`OVERLAP`] (the `Date` header's one-second
//!   resolution and commit delays) plus the previous poll's duration. An empty answer does not move the watermark,
//!   so a job missing from one answer comes back in the next. A job crosses the API about once per change.
//! * **Eviction** after every poll: finished jobs whose `endTime` is before the window start leave the store
//!   (their counting marks stay; see below).
//!
//! # Counting (exactly once, from the exporter's start)
//!
//! A job is *counted* the first time an answer shows it `DONE` with an `endTime` at or after the *floor*: it is
//! added once to `nbu_jobs_finished_total` / `nbu_jobs_transferred_bytes_total` and observed once in the
//! `nbu_job_duration_seconds` histogram, and its `jobId` enters a ledger of counted jobs. The floor is the second
//! the exporter started (NetBackup's `endTime` has whole seconds: a job that ended in that second counts), later
//! `now − horizon`; it never moves back. Jobs that had ended before the start are the baseline: not counted, but
//! their label sets appear at 0 so a later increment is visible to `increase()`. The ledger is separate from the
//! store and only grows from answers: an empty answer, a short page, offset drift or a full load that no longer
//! lists a job cannot make a counted job count again. Marks leave the ledger only when their `endTime` falls below
//! the floor, where no answer could count them anyway (memory: the jobs of one horizon). A job that finished during
//! an outage is counted when NetBackup answers again, if it ended within the horizon; one that ended earlier is
//! lost, and the log says so. A `DONE` job without an `endTime` counts unless it was there at the first load.
//! Counting happens after a whole poll succeeded and was committed, so a poll that fails or is abandoned half-way
//! can neither lose nor double-count. Window gauges are computed from the store when the collector renders.

use super::{Collector, Ctx, Timings};
use crate::config::ApiVersion;
use crate::exposition::{Fam, Samples};
use crate::netbackup::models::JobAttributes;
use crate::netbackup::time::{format_timestamp, now_ms, EpochMs};
use crate::netbackup::{ApiError, List, Paging};
use counting::Counter;
use record::{merge, record, Interner, Job, Sym};
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod counting;
mod record;

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

fn ms(d: Duration) -> EpochMs {
    d.as_millis() as EpochMs
}

pub struct JobsCollector {
    interval: Duration,
    window: Duration,
    /// `catchUpHorizon` as configured (the effective horizon also covers the window and `collectionTimeout`).
    horizon: Duration,
    jobs: HashMap<i64, Job>,
    strings: Interner,
    done: Sym,
    queued: Sym,
    states: [Sym; STATES.len()],
    counter: Counter,
    /// Where the next poll resumes (see the module doc); `None` until a poll was trusted.
    watermark: Option<EpochMs>,
    /// The "no jobs at all, probably RBAC" warning is given once.
    warned_empty: bool,
    /// When the last poll succeeded (exporter clock).
    answered: Option<EpochMs>,
    /// The start of the last outage whose jobs could not all be counted, logged once.
    warned_horizon: Option<EpochMs>,
    last_poll: Duration,
    last_full: Option<Instant>,
}

fn status_label(s: Option<i32>) -> String {
    s.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

/// What one poll asks for and how its answer is applied.
struct Plan {
    full: bool,
    /// The earliest `endTime` (full load) or `lastUpdateTime` (incremental) asked for.
    from: EpochMs,
}

impl JobsCollector {
    /// A collector following `t`, counting jobs that finish from `since` (the exporter's start, epoch ms) on.
    pub fn new(t: &Timings, since: EpochMs) -> Self {
        let mut strings = Interner::default();
        let states = STATES.map(|s| strings.get(Some(s)));
        let (done, queued) = (strings.get(Some("DONE")), strings.get(Some("QUEUED")));
        JobsCollector {
            interval: t.collection_interval,
            window: t.job_window,
            horizon: t.catch_up_horizon,
            jobs: HashMap::new(),
            strings,
            done,
            queued,
            states,
            counter: Counter::new(since),
            watermark: None,
            warned_empty: false,
            answered: None,
            warned_horizon: None,
            last_poll: Duration::ZERO,
            last_full: None,
        }
    }

    fn window_start(&self, now: EpochMs) -> EpochMs {
        now - ms(self.window)
    }

    /// The effective catch-up horizon: `catchUpHorizon`, but at least what one poll can span.
    fn horizon(&self, collection_timeout: Duration) -> EpochMs {
        ms(self.horizon.max(self.window + collection_timeout + OVERLAP))
    }

    /// What the next poll fetches, at `now` (exporter clock), on an API that does (or not) filter on
    /// `lastUpdateTime`.
    fn plan(&mut self, now: EpochMs, incremental_api: bool, collection_timeout: Duration, site: &str) -> Plan {
        let full =
            !incremental_api || self.watermark.is_none() || self.last_full.is_none_or(|t| t.elapsed() >= FULL_RESYNC);
        let earliest = now - self.horizon(collection_timeout);
        let resume = self.watermark.map(|w| w - ms(OVERLAP + self.last_poll));
        if let Some(r) = resume.filter(|r| *r < earliest) {
            if self.warned_horizon != Some(r) {
                log::warn!(
                    "site {site}: no job poll succeeded since {}; jobs that finished before {} (catchUpHorizon) are                      not counted in nbu_jobs_finished_total",
                    format_timestamp(r),
                    format_timestamp(earliest)
                );
                self.warned_horizon = Some(r);
            }
        }
        let from = match (full, resume) {
            (true, r) => r.map_or(self.window_start(now), |r| r.min(self.window_start(now))),
            (false, r) => r.unwrap_or(now),
        };
        Plan { full, from: from.max(earliest) }
    }

    /// True when an empty full-load answer cannot be the truth: at the first load, or while the store holds jobs
    /// the answer should have listed.
    fn distrust_empty(&self, from: EpochMs) -> bool {
        self.last_full.is_none() || self.jobs.values().any(|j| j.state != self.done || j.end.is_none_or(|e| e >= from))
    }

    /// Applies one successful poll at `now`: counts what it shows, then a full load replaces the store and an
    /// incremental one upserts; finished jobs before the window start leave.
    fn apply(&mut self, batch: HashMap<i64, Job>, full: bool, now: EpochMs, horizon: EpochMs) {
        let loaded = self.last_full.is_some();
        self.counter.advance(now, horizon);
        for (id, job) in &batch {
            let stale = !full && self.jobs.get(id).is_some_and(|e| e.updated > job.updated);
            if !stale {
                self.counter.offer(*id, job, self.done, loaded, now);
            }
        }
        if full {
            self.jobs = batch;
        } else {
            for (id, job) in batch {
                if self.jobs.get(&id).is_none_or(|e| e.updated <= job.updated) {
                    self.jobs.insert(id, job);
                }
            }
        }
        let (done, window_start) = (self.done, self.window_start(now));
        self.jobs.retain(|_, j| !(j.state == done && j.end.is_some_and(|e| e < window_start)));
    }

    /// The filters of a full load from `from`: unfinished jobs, and finished ones in `slices` equal `endTime`
    /// ranges up to `now` (the last one open-ended), so `concurrency` walks can run at once. One slice: the single
    /// filter.
    fn full_filters(from: EpochMs, now: EpochMs, slices: usize) -> Vec<String> {
        if slices <= 1 {
            return vec![format!("endTime ge {} or endTime eq 1970-01-01T00:00:00.000Z", format_timestamp(from))];
        }
        let step = ((now - from) / slices as EpochMs).max(1);
        let mut out = vec!["endTime eq 1970-01-01T00:00:00.000Z".to_string()];
        for i in 0..slices as EpochMs {
            let lo = format_timestamp(from + i * step);
            out.push(if i + 1 == slices as EpochMs {
                format!("endTime ge {lo}")
            } else {
                format!("endTime ge {lo} and endTime lt {}", format_timestamp(from + (i + 1) * step))
            });
        }
        out
    }
}

/// Time slices of a full load over `span`: one (a single filter) when sequential; otherwise one per 5 minutes
/// (jobs cluster in backup windows, so many small slices keep every request busy until the end), at least two per
/// concurrent request and at most 64. A full load happens at start and every [`FULL_RESYNC`], so the few extra
/// requests for empty slices do not matter.
fn slices(concurrency: usize, span: Duration) -> usize {
    if concurrency <= 1 {
        1
    } else {
        ((span.as_secs() / 300) as usize).clamp(2 * concurrency, 64)
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

    fn reconfigure(&mut self, t: &Timings) {
        self.interval = t.collection_interval;
        self.window = t.job_window;
        self.horizon = t.catch_up_horizon;
    }

    fn collect(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        let started_local = now_ms();
        let started = Instant::now();
        let incremental_api = ctx.version >= INCREMENTAL_SINCE;
        let Plan { full, from } = self.plan(started_local, incremental_api, ctx.collection_timeout(), ctx.site);
        let paging = if ctx.version >= CURSOR_SINCE { Paging::Cursor } else { Paging::Offset };
        let filters = if full {
            // Cursor paging parallelises by time slice, offset paging by page (with one filter).
            let span = Duration::from_millis((started_local - from).max(0) as u64);
            let n = if paging == Paging::Cursor { slices(ctx.concurrency, span) } else { 1 };
            Self::full_filters(from, started_local, n)
        } else {
            vec![format!("lastUpdateTime ge {}", format_timestamp(from))]
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
            "site {}: {} poll fetched {} jobs (from {}) in {} pages ({} slice(s)); store holds {}, ledger {}",
            ctx.site,
            if full { "full" } else { "incremental" },
            batch.len(),
            format_timestamp(from),
            stats.pages,
            queries.len(),
            self.jobs.len(),
            self.counter.marks()
        );
        if !ctx.commit() {
            return Err(ApiError::Timeout { path: "/admin/jobs".into(), detail: "collection abandoned".into() });
        }
        let last_poll = started.elapsed();
        self.answered = Some(started_local);
        if batch.is_empty() {
            if full && !self.warned_empty {
                // NetBackup answers 200 with no data, not 401, when the key's role lacks the jobs permission.
                log::warn!(
                    "site {}: NetBackup returned no jobs at all; if its Activity Monitor shows jobs, the API key's \
                     role probably lacks the view permission on jobs (|MANAGE|JOBS|)",
                    ctx.site
                );
                self.warned_empty = true;
            }
            // Nothing to count; the store and the watermark stay, so an answer that missed jobs loses nothing.
            if !full || self.distrust_empty(from) {
                log::debug!("site {}: empty answer: the store and the watermark stay", ctx.site);
                self.apply(batch, false, now_ms(), self.horizon(ctx.collection_timeout()));
                return Ok(());
            }
        }
        self.apply(batch, full, now_ms(), self.horizon(ctx.collection_timeout()));
        if full {
            self.last_full = Some(Instant::now());
        }
        self.watermark = stats.server_time.or(newest_update).or(Some(started_local));
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
                continue; // left the window since the last poll
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
        for (&(a, p), h) in sorted(&self.counter.durations) {
            out.histogram(Fam::JobDuration, &[("site", site), ("action", n(a)), ("policy_type", n(p))], h);
        }
        for (&(a, p, s), t) in sorted(&self.counter.totals) {
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
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

#[cfg(test)]
mod tests;
