//! The simulator's answers: JSON and error envelopes, headers, and offset-paged list pages.

use super::Sim;
use nbu_exporter::config::ApiVersion;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tiny_http::Header;

pub fn header(name: &str, value: &str) -> Header {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => h,
        Err(()) => unreachable!("bad header"),
    }
}

pub type Reply = (u16, String, Vec<Header>);

pub fn json_reply(status: u16, body: &Value, version: Option<ApiVersion>) -> Reply {
    let ct = match version {
        Some(v) => format!("application/vnd.netbackup+json;version={v}"),
        None => "application/json".into(),
    };
    (status, body.to_string(), vec![header("Content-Type", &ct)])
}

pub fn error_reply(status: u16, code: i64, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"errorCode": code, "errorMessage": message, "attributeErrors": {}, "fileUploadErrors": [], "errorDetails": []}),
        None,
    )
}

/// One page of an offset-paged list (`page[limit]` at most 500) of `items` of JSON:API `kind` served at `path`.
pub fn offset_list(
    version: ApiVersion,
    q: &BTreeMap<String, String>,
    items: Vec<Value>,
    what: (&str, &str),
    id: impl Fn(&Value) -> Option<String>,
) -> Reply {
    offset_list_max(500, version, q, items, what, id)
}

/// One page of an offset-paged list whose `page[limit]` may be at most `max`.
pub fn offset_list_max(
    max: usize,
    version: ApiVersion,
    q: &BTreeMap<String, String>,
    items: Vec<Value>,
    (kind, path): (&str, &str),
    id: impl Fn(&Value) -> Option<String>,
) -> Reply {
    let limit = match Sim::limit(q, max) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let offset: usize = q.get("page[offset]").and_then(|v| v.parse().ok()).unwrap_or(0);
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|a| {
            let id = id(&a).unwrap_or_default();
            let href = format!("{path}/{id}");
            json!({"type": kind, "id": id, "attributes": a, "links": {"self": {"href": href}}})
        })
        .collect();
    json_reply(200, &offset_page(data, total, offset, limit), Some(version))
}

/// Offset-style envelope: `meta.pagination{count,pages,page,offset,limit,first,last,next?,prev?}`.
pub fn offset_page(data: Vec<Value>, count: usize, offset: usize, limit: usize) -> Value {
    let l = limit.max(1);
    let last = if count == 0 { 0 } else { (count - 1) / l * l };
    let mut p = json!({"count": count, "pages": count.div_ceil(l), "page": offset / l + 1, "offset": offset,
                        "limit": limit, "first": 0, "last": last});
    if offset + l < count {
        p["next"] = json!(offset + l);
    }
    if offset > 0 {
        p["prev"] = json!(offset.saturating_sub(l));
    }
    json!({"data": data, "meta": {"pagination": p}, "links": {"self": {"href": format!("/netbackup/...?page[offset]={offset}")}}})
}
