//! A source's worker thread: waits until its source is due, runs one collection (negotiating the API version
//! first when needed), renders the source's samples and hands the outcome to the site's runtime.

use super::{Shared, RETRY_CAP};
use crate::collector::{Attempt, Collector, Ctx};
use crate::config::ApiVersion;
use crate::exposition::Samples;
use crate::netbackup::{ApiError, Client};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs source `i` of the site until the site stops.
pub(super) fn run(shared: &Shared, i: usize, mut collector: Box<dyn Collector>) {
    let mut generation = 0;
    let mut due = Instant::now();
    loop {
        let mut rt = shared.state.lock();
        loop {
            if rt.stopped {
                return;
            }
            if rt.generation != generation {
                generation = rt.generation;
                collector.reconfigure(&rt.timings);
                rt.sources[i].interval = collector.interval();
                due = Instant::now();
            }
            if Instant::now() >= due {
                break;
            }
            shared.cv.wait_until(&mut rt, due);
        }
        let attempt = Arc::new(Attempt::new(rt.site.collection_timeout));
        rt.sources[i].running = Some(attempt.clone());
        rt.changed = true;
        let (client, version, concurrency) = (rt.client.clone(), rt.version, rt.site.concurrency);
        drop(rt);
        shared.cv.notify_all();

        let version = match version {
            Some(v) => Ok(v),
            None => negotiate(shared, &client, generation),
        };
        let result = version.and_then(|version| {
            let ctx = Ctx { client: &client, version, site: &shared.name, concurrency, attempt: &attempt };
            collector.collect(&ctx)
        });
        let samples = result.is_ok().then(|| {
            let mut s = Samples::default();
            collector.render(&shared.name, &mut s);
            s
        });
        let took = attempt.started.elapsed();

        let mut rt = shared.state.lock();
        rt.sources[i].running = None;
        let interval = collector.interval();
        let unsupported = matches!(&result, Err(e) if e.kind() == "unsupported");
        let ok = if attempt.abandoned() {
            false // the supervisor already counted it as failed; its results are dropped
        } else {
            rt.sources[i].duration.observe(took.as_secs_f64());
            match (result, samples) {
                (Ok(()), Some(samples)) => {
                    rt.refused = 0;
                    shared.succeed(&mut rt, i, samples, took);
                    true
                }
                (Err(e), _) => {
                    if matches!(e, ApiError::NotAcceptable { .. })
                        && rt.site.api_version.is_none()
                        && rt.generation == generation
                    {
                        // The server was downgraded: negotiate again next time. If it refuses the very version
                        // it announces, again and again, back off as after a failed negotiation.
                        // Counted once per negotiated version, however many sources it failed.
                        if rt.version.take().is_some() {
                            rt.refused += 1;
                            if rt.refused >= 2 {
                                refused_back_off(&shared.name, &mut rt, &e);
                            }
                        }
                    }
                    shared.fail(&mut rt, i, &e);
                    false
                }
                (Ok(()), None) => false,
            }
        };
        rt.changed = true;
        drop(rt);
        shared.cv.notify_all();
        // After a success the next collection is due one interval after this one started, as after a 404 (the
        // release does not have the endpoint: asking sooner cannot help); after another failure, soon.
        due = if ok || unsupported { attempt.started + interval } else { Instant::now() + interval.min(RETRY_CAP) };
    }
}

/// First wait after a failed negotiation (406 to every version); doubled per failure up to [`NEGOTIATION_CAP`].
const NEGOTIATION_BASE: Duration = Duration::from_secs(10);
/// Longest wait between two negotiations that found no version: the 406 ladder is a dozen requests.
pub(super) const NEGOTIATION_CAP: Duration = Duration::from_secs(300);

/// The site's API version: another worker's answer if it just negotiated one, else asked of the server. After a
/// negotiation that found no version, the site's sources fail with that answer without asking again until the
/// back-off (10 s, doubling, at most 5 min) has passed; any reload starts afresh, also one that changes nothing
/// ([`super::PollerHandle::renegotiate`]).
fn negotiate(shared: &Shared, client: &Client, generation: u64) -> Result<ApiVersion, ApiError> {
    let _one_at_a_time = shared.detect.lock();
    let failures = {
        let rt = shared.state.lock();
        if let Some(v) = rt.version {
            return Ok(v);
        }
        match &rt.no_version {
            Some(n) if Instant::now() < n.retry_at => return Err(n.error.clone()),
            Some(n) => n.failures,
            None => 0,
        }
    };
    let result = client.detect_version();
    let mut rt = shared.state.lock();
    if rt.generation != generation {
        return result; // settings changed meanwhile: the answer is for the old ones
    }
    match &result {
        Ok(v) => {
            if rt.no_version.take().is_some() {
                log::info!(
                    "site {}: API version negotiation succeeded after {failures} failed attempt(s)",
                    shared.name
                );
            }
            if rt.version != Some(*v) {
                log::info!("site {}: using NetBackup API version {v}", shared.name);
                rt.version = Some(*v);
                rt.changed = true;
            }
        }
        Err(e @ ApiError::NoVersion { .. }) => {
            let wait = NEGOTIATION_BASE.saturating_mul(1 << failures.min(8)).min(NEGOTIATION_CAP);
            if failures == 0 {
                log::warn!(
                    "site {}: API version negotiation failed; trying again in {}s, then less and less often (at \
                     most every {}s) until it succeeds or the config is reloaded",
                    shared.name,
                    wait.as_secs(),
                    NEGOTIATION_CAP.as_secs()
                );
            }
            rt.no_version =
                Some(NoVersion { failures: failures + 1, retry_at: Instant::now() + wait, error: e.clone() });
        }
        Err(_) => {}
    }
    result
}

/// Backs negotiation off after the server refused (406) the version it announced more than once in a row.
fn refused_back_off(site: &str, rt: &mut super::Runtime, e: &ApiError) {
    let failures = rt.refused - 2;
    let wait = NEGOTIATION_BASE.saturating_mul(1 << failures.min(8)).min(NEGOTIATION_CAP);
    if failures == 0 {
        log::warn!(
            "site {site}: NetBackup refuses the API version its /ping announces ({e}); asking again in {}s, then \
             less and less often (at most every {}s) until it accepts one or the config is reloaded",
            wait.as_secs(),
            NEGOTIATION_CAP.as_secs()
        );
    }
    rt.no_version = Some(NoVersion { failures: failures + 1, retry_at: Instant::now() + wait, error: e.clone() });
}

/// A negotiation that found no API version, and when to try again.
pub(super) struct NoVersion {
    failures: u32,
    retry_at: Instant,
    error: ApiError,
}
