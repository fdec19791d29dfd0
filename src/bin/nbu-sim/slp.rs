//! `/catalog/slp-images` (cursor-paged, filtered by `slpImageState`) and `/config/slps`: the simulated primary's
//! storage lifecycle policies and their backlog, which grows by one image every 10 s on `slp_dup_tape`.

use super::reply::{error_reply, header, Reply};
use nbu_exporter::config::ApiVersion;
use nbu_exporter::netbackup::time::format_timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000;
/// `(name, active, data classification)` of the simulated SLPs.
const SLPS: [(&str, bool, &str); 6] = [
    ("slp_dup_tape", true, "Gold"),
    ("slp_replicate_dr", true, "Gold"),
    ("slp_cloud_tier", true, "Silver"),
    ("slp_snapshot_index", true, "Silver"),
    ("slp_weekly_vault", true, "Bronze"),
    ("slp_paused", false, "Bronze"),
];
/// Largest `page[limit]` of `/catalog/slp-images`.
const IMAGE_PAGE_MAX: usize = 1000;

/// The SLPs' attributes, as `/config/slps` serves them.
pub fn slps() -> Vec<Value> {
    SLPS.iter()
        .enumerate()
        .map(|(i, (name, active, class))| {
            json!({"slpName": name, "versionNumber": i + 1, "active": active, "dataClassification": class,
                   "duplicationPriority": 0, "flagValues": if *active { json!([]) } else { json!(["inactive"]) },
                   "operationList": [{"operationIndex": 1, "operationType": "BACKUP", "sourceOperationIndex": 0,
                                      "retentionPeriod": {"value": 2, "unit": "WEEKS"},
                                      "storage": {"name": "stu_msdp_01"}}]})
        })
        .collect()
}

/// Every SLP image at `now` (all states, oldest first): `base` images spread over the last three days before
/// `origin`, in every state, plus one `NOT_STARTED` image on `slp_dup_tape` per 10 s since `origin` (at most 2000).
pub fn images(origin: i64, now: i64, base: usize) -> Vec<Value> {
    let image = |i: usize, slp: &str, state: &str, time: i64| {
        json!({"primaryServer": "nbu-sim", "backupId": format!("client{:03}_{}", i % 200, time / 1000),
               "policyName": format!("policy_{slp}"), "clientName": format!("client{:03}.example.com", i % 200),
               "backupTime": format_timestamp(time), "policyType": "STANDARD", "scheduleType": "FULL",
               "slpName": slp, "slpImageState": state, "isStorageLifecycleInactive": state.ends_with("|INACTIVE"),
               "slpVersion": 1, "creationTime": format_timestamp(time),
               "copies": [{"copyNumber": 1, "copyType": "BACKUP", "copyState": "COPYCOMPLETE", "jobId": 1000 + i,
                           "fragments": [{"mediaId": "@aaab", "mediaServer": "nbu-media01.example.com"}]},
                          {"copyNumber": 2, "copyType": "DUPLICATE", "copyState": "NOT_STARTED"}]})
    };
    let mut out: Vec<(i64, Value)> = (0..base)
        .map(|i| {
            let (slp, active, _) = SLPS[i % SLPS.len()];
            let time = origin - ((i as i64 * 37 * MINUTE) % (72 * 60 * MINUTE)) - MINUTE;
            let state = match (active, i % 5) {
                (_, 0 | 1) => "COMPLETE",
                (true, 2 | 3) => "NOT_STARTED",
                (true, _) => "IN_PROCESS",
                (false, 2 | 3) => "NOT_STARTED|INACTIVE",
                (false, _) => "IN_PROCESS|INACTIVE",
            };
            (time, image(i, slp, state, time))
        })
        .collect();
    let grown = ((now - origin).max(0) / 10_000).min(2000) as usize;
    for k in 0..grown {
        let time = origin + k as i64 * 10_000;
        out.push((time, image(base + k, "slp_dup_tape", "NOT_STARTED", time)));
    }
    out.sort_by_key(|(t, _)| *t);
    out.into_iter().map(|(_, v)| v).collect()
}

/// One page of `/catalog/slp-images`: `filter` must be `slpImageState eq '<STATE>'` (or absent); the cursor is the
/// index of the next image.
pub fn image_page(version: ApiVersion, q: &BTreeMap<String, String>, all: Vec<Value>) -> Reply {
    let state = match q.get("filter").map(|f| f.trim()) {
        None | Some("") => None,
        Some(f) => match f.strip_prefix("slpImageState eq '").and_then(|r| r.strip_suffix('\'')) {
            Some(s) => Some(s.to_string()),
            None => return error_reply(400, 9401, &format!("The OData filter criteria is invalid: {f}")),
        },
    };
    let limit = match q.get("page[limit]").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n <= IMAGE_PAGE_MAX => n,
        Some(_) => return error_reply(400, 8961, &format!("page[limit] must be between 0 and {IMAGE_PAGE_MAX}")),
    };
    let hits: Vec<Value> =
        all.into_iter().filter(|i| state.as_deref().is_none_or(|s| i["slpImageState"] == s)).collect();
    let start = match q.get("page[after]").map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return error_reply(400, 8961, "page[after] is not a valid cursor"),
    };
    let end = (start + limit).min(hits.len());
    let data: Vec<Value> = hits[start.min(end)..end]
        .iter()
        .map(|a| json!({"type": "slpImage", "id": a["backupId"], "attributes": a}))
        .collect();
    let mut pagination = json!({"limit": limit});
    if end < hits.len() && end > start {
        pagination["next"] = json!(end.to_string());
    }
    let body = json!({"data": data, "meta": {"pagination": pagination}, "links": {}});
    let ct = format!("application/vnd.netbackup+json;version={version}");
    (200, body.to_string(), vec![header("Content-Type", &ct)])
}
