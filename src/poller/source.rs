//! A source's worker thread: waits until its source is due, runs one collection (negotiating the API version
//! first when needed), renders the source's samples and hands the outcome to the site's runtime.

use super::{Shared, RETRY_CAP};
use crate::collector::{Attempt, Collector, Ctx};
use crate::config::ApiVersion;
use crate::exposition::Samples;
use crate::netbackup::{ApiError, Client};
use std::sync::Arc;
use std::time::Instant;

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
        let ok = if attempt.abandoned() {
            false // the supervisor already counted it as failed; its results are dropped
        } else {
            rt.sources[i].duration.observe(took.as_secs_f64());
            match (result, samples) {
                (Ok(()), Some(samples)) => {
                    shared.succeed(&mut rt, i, samples, took);
                    true
                }
                (Err(e), _) => {
                    if matches!(e, ApiError::NotAcceptable { .. })
                        && rt.site.api_version.is_none()
                        && rt.generation == generation
                    {
                        rt.version = None; // the server was downgraded: negotiate again next time
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
        // After a success the next collection is due one interval after this one started; after a failure, soon.
        due = if ok { attempt.started + interval } else { Instant::now() + interval.min(RETRY_CAP) };
    }
}

/// The site's API version: another worker's answer if it just negotiated one, else asked of the server.
fn negotiate(shared: &Shared, client: &Client, generation: u64) -> Result<ApiVersion, ApiError> {
    let _one_at_a_time = shared.detect.lock();
    if let Some(v) = shared.state.lock().version {
        return Ok(v);
    }
    let v = client.detect_version()?;
    let mut rt = shared.state.lock();
    if rt.generation == generation && rt.version != Some(v) {
        log::info!("site {}: using NetBackup API version {v}", shared.name);
        rt.version = Some(v);
        rt.changed = true;
    }
    Ok(v)
}
