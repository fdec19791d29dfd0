//! Unit tests of the job store and of exactly-once counting.

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

fn timings(interval: u64, window: u64, horizon: u64) -> Timings {
    Timings {
        collection_interval: Duration::from_secs(interval),
        job_window: Duration::from_secs(window),
        cache_ttl: Duration::from_secs(300),
        catch_up_horizon: Duration::from_secs(horizon),
        ttls: Default::default(),
    }
}

impl JobsCollector {
    /// The test form of a poll: attributes in, records merged and applied as `collect` applies them.
    fn apply_attrs(&mut self, attrs: Vec<JobAttributes>, full: bool, now: EpochMs) {
        let mut batch = HashMap::new();
        for a in &attrs {
            if let Some((id, job)) = record(&mut self.strings, a) {
                merge(&mut batch, id, job);
            }
        }
        let horizon = self.horizon(Duration::from_secs(60));
        if batch.is_empty() && (!full || self.distrust_empty(now - ms(self.window))) {
            self.apply(batch, false, now, horizon);
            return;
        }
        self.apply(batch, full, now, horizon);
        if full {
            self.last_full = Some(Instant::now());
        }
    }
}

fn render(c: &JobsCollector) -> String {
    let fams = crate::exposition::Families::new(&crate::exposition::HelpContext {
        cache_ttl: "5m".into(),
        ttls: vec![],
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

fn finished(text: &str, status: i64) -> String {
    let line = format!("nbu_jobs_finished_total{{{LABELS},status=\"{status}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).unwrap_or("absent").to_string()
}

#[test]
fn counts_each_job_finishing_after_the_start_once_and_never_reads_missing_status_as_zero() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(60, 3600, 86_400), now - 1500);
    // Job 2 finished before the exporter started: the baseline, at 0. Job 1 is running.
    c.apply_attrs(vec![job(1, "ACTIVE", None, None, 10), job(2, "DONE", Some(0), Some(now - 3000), 1)], true, now);
    let text = render(&c);
    assert_eq!(finished(&text, 0), "0", "{text}");
    assert!(text.contains(&format!("nbu_job_duration_seconds_count{{{LABELS}}} 0\n")), "{text}");
    for _ in 0..5 {
        c.apply_attrs(vec![job(2, "DONE", Some(0), Some(now - 3000), 1)], false, now);
    }
    c.apply_attrs(vec![job(1, "DONE", Some(1), Some(now), 10)], false, now);
    c.apply_attrs(vec![job(1, "DONE", Some(1), Some(now), 10)], true, now);
    let text = render(&c);
    assert_eq!(finished(&text, 0), "0", "{text}");
    assert_eq!(finished(&text, 1), "1", "{text}");
    assert!(text.contains(&format!("nbu_jobs_transferred_bytes_total{{{LABELS},status=\"1\"}} 10240\n")));
    assert!(text.contains(&format!("nbu_job_duration_seconds_bucket{{{LABELS},le=\"300\"}} 1\n")), "{text}");
    assert!(text.contains(&format!("nbu_job_duration_seconds_sum{{{LABELS}}} 120\n")), "{text}");
    assert!(!text.contains("status=\"unknown\""));
}

#[test]
fn a_job_that_ended_in_the_start_second_counts() {
    // NetBackup's endTime has whole seconds: a job that ended 300 ms after the start reads as the start second.
    let start = 1_700_000_000_700;
    let mut c = JobsCollector::new(&timings(60, 3600, 86_400), start);
    c.apply_attrs(vec![job(1, "DONE", Some(0), Some(start - 700), 1)], true, start + 1000);
    c.apply_attrs(vec![job(2, "DONE", Some(0), Some(start - 1700), 1)], false, start + 1000);
    assert_eq!(finished(&render(&c), 0), "1");
}

#[test]
fn no_answer_makes_a_counted_job_count_again() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(1, 60, 86_400), now - 10_000);
    let done = job(5, "DONE", Some(0), Some(now - 1000), 1);
    c.apply_attrs(vec![done.clone(), job(6, "ACTIVE", None, None, 0)], true, now);
    // Full loads (API < 10) that miss the job (a short page, offset drift), then an empty one, then it is back.
    c.apply_attrs(vec![job(6, "ACTIVE", None, None, 0)], true, now);
    c.apply_attrs(vec![], true, now);
    assert_eq!(c.jobs.len(), 1, "an empty answer while a job runs is not trusted: the store stays");
    c.apply_attrs(vec![done.clone(), job(6, "ACTIVE", None, None, 0)], true, now);
    c.apply_attrs(vec![done], false, now);
    assert_eq!(finished(&render(&c), 0), "1");
}

#[test]
fn jobs_that_finished_during_an_outage_count_up_to_the_horizon() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(1, 60, 3600), now - 4 * 3600 * 1000);
    c.apply_attrs(vec![job(1, "ACTIVE", None, None, 0)], true, now - 3 * 3600 * 1000);
    // Back after 3 h: job 1 ended 2 h ago (in the 1 h horizon? no), job 2 30 min ago, job 3 just now.
    let back = vec![
        job(1, "DONE", Some(0), Some(now - 2 * 3600 * 1000), 1),
        job(2, "DONE", Some(0), Some(now - 1800 * 1000), 1),
        job(3, "DONE", Some(0), Some(now - 1000), 1),
    ];
    c.apply_attrs(back.clone(), true, now);
    let text = render(&c);
    assert_eq!(finished(&text, 0), "2", "{text}");
    assert!(!text.contains("nbu_jobs_count{site=\"x\",action=\"BACKUP\",policy_type=\"STANDARD\",status=\"0\"} 3"));
    c.apply_attrs(back, true, now + 1000);
    assert_eq!(finished(&render(&c), 0), "2", "counted once");
    assert_eq!(c.counter.marks(), 2, "job 1 is below the floor: not in the ledger");
}

#[test]
fn the_ledger_forgets_jobs_below_the_floor_and_the_floor_never_moves_back() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(1, 60, 600), now - 3600 * 1000);
    c.apply_attrs(vec![job(1, "DONE", Some(0), Some(now - 100_000), 1)], true, now);
    assert_eq!(c.counter.marks(), 1);
    c.apply_attrs(vec![], false, now + 700_000);
    assert_eq!(c.counter.marks(), 0, "ended more than the horizon ago");
    // A longer horizon after a reload does not bring it back into counting.
    c.reconfigure(&timings(1, 60, 86_400));
    c.apply_attrs(vec![job(1, "DONE", Some(0), Some(now - 100_000), 1)], false, now + 701_000);
    assert_eq!(finished(&render(&c), 0), "1");
}

#[test]
fn an_empty_first_load_is_not_the_baseline() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(1, 60, 86_400), now - 1000);
    c.apply_attrs(vec![], true, now);
    assert!(c.last_full.is_none(), "the next poll is a full load again");
    c.apply_attrs(vec![job(1, "DONE", Some(0), Some(now - 30_000), 1)], true, now);
    assert!(c.last_full.is_some());
    let text = render(&c);
    assert!(text.contains("nbu_jobs_count{site=\"x\",action=\"BACKUP\",policy_type=\"STANDARD\",status=\"0\"} 1"));
    assert_eq!(finished(&text, 0), "0", "ended before the start");
}

#[test]
fn evicts_jobs_that_left_the_window_but_keeps_unfinished_ones_and_empty_states_read_zero() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(60, 3600, 86_400), now - 10_000);
    let old = now - 2 * 3600 * 1000;
    c.apply_attrs(vec![job(1, "DONE", Some(0), Some(old), 1), job(2, "QUEUED", None, None, 0)], false, now);
    let text = render(&c);
    assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"QUEUED\"} 1\n"), "{text}");
    assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"DONE\"} 0\n"), "{text}");
    assert!(text.contains("nbu_jobs_state_count{site=\"x\",action=\"BACKUP\",state=\"ACTIVE\"} 0\n"), "{text}");
    assert_eq!(finished(&text, 0), "0", "an old job is not counted, its labels read 0: {text}");
    assert!(text.contains("nbu_jobs_queued_count{site=\"x\",action=\"BACKUP\",reason=\"unknown\"} 1\n"));
    assert!(text.contains("nbu_exporter_jobs_in_store{site=\"x\"} 1\n"), "{text}");
}

#[test]
fn full_loads_resume_from_the_last_poll_after_an_outage_within_the_horizon() {
    let now = now_ms();
    let mut c = JobsCollector::new(&timings(1, 60, 3600), now);
    assert_eq!(c.plan(now, false, Duration::from_secs(60), "x").from, now - 60_000, "first: the window");
    c.watermark = Some(now - 600_000);
    c.answered = c.watermark;
    let p = c.plan(now, false, Duration::from_secs(60), "x");
    assert!(p.full && p.from == now - 610_000, "resumes 10 s before the last poll");
    c.watermark = Some(now - 7_200_000);
    assert_eq!(c.plan(now, true, Duration::from_secs(60), "x").from, now - 3_600_000, "not before the horizon");
}
