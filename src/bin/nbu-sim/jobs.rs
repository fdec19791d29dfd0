//! `/admin/jobs`: the OData-filtered job list, cursor-paged from API 9.0 and offset-paged before, with the
//! listing faults (empty answers, short pages, padded items) tests inject.

use super::control::Control;
use super::reply::{error_reply, header, json_reply, offset_page, Reply};
use super::world::Dialect;
use super::{odata, Sim, FILTER_CACHE_ENTRIES};
use nbu_exporter::config::ApiVersion;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Sim {
    pub fn limit(q: &BTreeMap<String, String>, max: usize) -> Result<usize, Reply> {
        match q.get("page[limit]") {
            None => Ok(10),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(error_reply(400, 8961, &format!("page[limit] must be between 0 and {max}"))),
            },
        }
    }

    fn matching(&self, filter: &str, now: i64, d: Dialect) -> Result<Arc<Vec<u32>>, Reply> {
        if let Some((_, _, _, hits)) =
            self.cache.lock().iter().find(|(f, t, m, _)| f == filter && *t == now / 1000 && *m == d.modern)
        {
            return Ok(hits.clone());
        }
        let expr = if filter.trim().is_empty() {
            None
        } else {
            Some(odata::parse(filter, d).map_err(|e| {
                self.count("bad_filter");
                error_reply(400, 9401, &format!("The OData filter criteria is invalid: {e}"))
            })?)
        };
        // Evaluated outside the lock: concurrent requests with other filters do not wait for this one.
        let hits: Vec<u32> = self
            .plans
            .iter()
            .enumerate()
            .filter(|(_, p)| p.view(now).is_some_and(|v| expr.as_ref().is_none_or(|e| odata::eval(e, &v, d))))
            .map(|(i, _)| i as u32)
            .collect();
        let hits = Arc::new(hits);
        let mut cache = self.cache.lock();
        cache.retain(|(_, t, _, _)| *t == now / 1000);
        if cache.len() >= FILTER_CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((filter.to_string(), now / 1000, d.modern, hits.clone()));
        Ok(hits)
    }

    pub fn jobs(&self, version: ApiVersion, q: &BTreeMap<String, String>, c: &Control) -> Reply {
        let limit = match Self::limit(q, if version >= ApiVersion::new(9, 0) { 100 } else { 1000 }) {
            Ok(l) => l,
            Err(r) => return r,
        };
        if let Some(sort) = q.get("sort").filter(|s| !matches!(s.as_str(), "-startTime,jobId" | "-startTime")) {
            return error_reply(400, 8961, &format!("sort {sort:?} is not supported by the simulator"));
        }
        let d = Dialect { modern: version >= ApiVersion::new(10, 0) };
        let now = self.now();
        // Listing faults apply to filtered listings (the exporter's polls), not to version probes.
        let listing = q.contains_key("filter");
        let (empty, short) = if listing {
            let mut live = self.control.lock();
            (Control::take(&mut live.empty), Control::take(&mut live.short_pages))
        } else {
            (false, false)
        };
        if empty {
            self.count("empty_answers");
        }
        if short {
            self.count("short_pages");
        }
        if c.no_rbac || empty {
            return json_reply(
                200,
                &json!({"data": [], "meta": {"pagination": {"limit": limit}}, "links": {}}),
                Some(version),
            );
        }
        let hits = match self.matching(q.get("filter").map_or("", String::as_str), now, d) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let key = |i: u32| {
            let p = &self.plans[i as usize];
            (-(p.start / 1000), p.id)
        };
        let item = |i: u32| -> String {
            let p = &self.plans[i as usize];
            let attrs = match p.view(now) {
                Some(v) if v.state == "DONE" => {
                    p.done_json[usize::from(d.modern)].get_or_init(|| v.to_json(d).to_string()).clone()
                }
                Some(v) => v.to_json(d).to_string(),
                None => "null".into(),
            };
            let attrs = match (c.pad_bytes, attrs.strip_prefix('{')) {
                (0, _) | (_, None) => attrs,
                (n, Some(rest)) => format!("{{\"simPadding\":\"{}\",{rest}", "x".repeat(n)),
            };
            format!(
                "{{\"type\":\"job\",\"id\":\"{id}\",\"attributes\":{attrs},\"links\":{{\"self\":{{\"href\":\"/admin/jobs/{id}\"}}}},\
                 \"meta\":{{\"page\":{{\"cursor\":\"{}:{id}\"}}}}}}",
                p.start / 1000 * 1000,
                id = p.id
            )
        };
        let ct = vec![header("Content-Type", &format!("application/vnd.netbackup+json;version={version}"))];
        if version >= ApiVersion::new(9, 0) {
            let start = match q.get("page[after]") {
                None => 0,
                Some(c) => {
                    let parsed =
                        c.split_once(':').and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
                    let Some((t, id)) = parsed else {
                        return error_reply(400, 8961, "page[after] is not a valid cursor");
                    };
                    hits.partition_point(|&i| key(i) <= (-(t / 1000), id))
                }
            };
            let end = (start + limit).min(hits.len());
            let shown = if short { start + (end - start) / 2 } else { end };
            let data: Vec<String> = hits[start..shown].iter().map(|&i| item(i)).collect();
            let mut pagination = json!({"limit": limit});
            if end < hits.len() && end > start {
                let last = &self.plans[hits[end - 1] as usize];
                pagination["next"] = json!(format!("{}:{}", last.start / 1000 * 1000, last.id));
            }
            (200, format!("{{\"data\":[{}],\"meta\":{{\"pagination\":{pagination}}}}}", data.join(",")), ct)
        } else {
            let offset: usize = q.get("page[offset]").and_then(|v| v.parse().ok()).unwrap_or(0);
            let take = if short { limit.min(hits.len().saturating_sub(offset)) / 2 } else { limit };
            let data: Vec<String> = hits.iter().skip(offset).take(take).map(|&i| item(i)).collect();
            let page = offset_page(Vec::new(), hits.len(), offset, limit);
            let rest = page.to_string();
            // `{"data":[],…}` with the items spliced in.
            let body = rest.replacen("\"data\":[]", &format!("\"data\":[{}]", data.join(",")), 1);
            (200, body, ct)
        }
    }
}
