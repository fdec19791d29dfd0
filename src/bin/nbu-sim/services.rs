//! `/config/hosts` (filtered by `nbuHostType`) and `/admin/hosts/{hostId}/services`: the simulated primary and media
//! servers and their NetBackup daemons (one stopped, one disabled; the OFFLINE media server's services unreachable).

use super::reply::{error_reply, json_reply, Reply};
use nbu_exporter::config::ApiVersion;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The primary's host id, as `/security/serverinfo` reports it (`masterHostId`).
pub const PRIMARY_ID: &str = "sim-0001";
const PRIMARY_SERVICES: [&str; 14] = [
    "bpcd", "vnetd", "bprd", "bpdbm", "nbpem", "nbjm", "nbemm", "nbrb", "nbaudit", "nbwmc", "nbsl", "nbevtmgr",
    "nbstserv", "nbars",
];
const MEDIA_SERVICES: [&str; 6] = ["bpcd", "vnetd", "nbrmms", "ltid", "spad", "spoold"];

/// `(uuid, hostName, nbuHostType)` of every server host: the primary and the media servers.
pub fn hosts(media: &[Value]) -> Vec<(String, String, &'static str)> {
    let mut out = vec![(PRIMARY_ID.to_string(), "nbu-sim".to_string(), "PRIMARY_SERVER")];
    for m in media {
        if let (Some(id), Some(name)) = (m["uuid"].as_str(), m["hostName"].as_str()) {
            out.push((id.to_string(), name.to_string(), "MEDIA_SERVER"));
        }
    }
    out
}

/// `/config/hosts`: `{"hosts": [...]}`, filtered by `nbuHostType eq '<TYPE>'` when asked.
pub fn hosts_answer(version: ApiVersion, q: &BTreeMap<String, String>, media: &[Value]) -> Reply {
    let want = match q.get("filter").map(|f| f.trim()) {
        None | Some("") => None,
        Some(f) => match f.strip_prefix("nbuHostType eq '").and_then(|r| r.strip_suffix('\'')) {
            Some(t) => Some(t.to_string()),
            None => return error_reply(400, 9401, &format!("The OData filter criteria is invalid: {f}")),
        },
    };
    let hosts: Vec<Value> = hosts(media)
        .into_iter()
        .filter(|(_, _, t)| want.as_deref().is_none_or(|w| w == *t))
        .map(|(id, name, t)| {
            json!({"uuid": id, "hostName": name, "nbuHostType": t, "osType": "Linux", "nbuVersion": "10.4.0.1",
                   "isSecureEnabled": true, "servers": ["nbu-sim"], "masterServer": "nbu-sim"})
        })
        .collect();
    json_reply(200, &json!({"hosts": hosts}), Some(version))
}

/// The services of host `id` at the current overrides (`service_state=HOST/SERVICE:STATUS`), or the error NetBackup
/// answers for a host it cannot reach (the OFFLINE media server) or does not know.
pub fn services(version: ApiVersion, id: &str, media: &[Value], overrides: &BTreeMap<String, String>) -> Reply {
    let Some((_, name, kind)) = hosts(media).into_iter().find(|(u, _, _)| u == id) else {
        return error_reply(404, 227, &format!("The host {id} was not found."));
    };
    if media.iter().any(|m| m["hostName"] == name.as_str() && m["status"]["name"] == "OFFLINE") {
        return error_reply(500, 9000, &format!("Unable to connect to the host {name}."));
    }
    let names: &[&str] = if kind == "PRIMARY_SERVER" { &PRIMARY_SERVICES } else { &MEDIA_SERVICES };
    let data: Vec<Value> = names
        .iter()
        .map(|svc| {
            let default = match (kind, *svc) {
                ("PRIMARY_SERVER", "nbars") => "DISABLED",
                ("MEDIA_SERVER", "nbrmms") if name == "nbu-media02.example.com" => "STOPPED",
                _ => "RUNNING",
            };
            let status = overrides.get(&format!("{name}/{svc}")).map_or(default, String::as_str);
            json!({"type": "service", "id": svc,
                   "attributes": {"displayName": format!("NetBackup {svc}"), "daemonCode": svc.to_uppercase(),
                                  "status": status, "serviceType": "DAEMON", "startUp": "AUTOMATIC"}})
        })
        .collect();
    json_reply(200, &json!({"data": data}), Some(version))
}
