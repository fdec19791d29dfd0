//! `/_sim/control`: the faults and states tests inject (latency, failures, hangs, freeze, RBAC, key rotation,
//! listing faults, version rejection).

use super::reply::{error_reply, json_reply, Reply};
use super::Sim;
use nbu_exporter::netbackup::time::now_ms;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Control {
    pub latency_ms: u64,
    /// HTTP status to answer API calls with (e.g. 503), for the paths in `fail_paths`.
    pub fail: Option<u16>,
    /// With `fail`: only the next N targeted requests fail (0 = all of them).
    pub fail_count: u64,
    /// With `fail`: seconds to announce in a `Retry-After` header.
    pub retry_after: Option<u64>,
    pub fail_paths: String,
    pub hang_ms: u64,
    /// Hold targeted requests without answering until released (`hold=0`): a hung server that recovers.
    pub hold: bool,
    pub garbage: bool,
    pub frozen_at: Option<i64>,
    pub no_rbac: bool,
    /// State overrides of disk pools and volumes (`disk_state=POOL:STATE` or `POOL/VOLUME:STATE`).
    pub disk_states: BTreeMap<String, String>,
    /// State overrides of storage and media servers (`server_state=NAME:STATE`).
    pub server_states: BTreeMap<String, String>,
    /// Status overrides of NetBackup services (`service_state=HOST/SERVICE:STATUS`).
    pub service_states: BTreeMap<String, String>,
    /// The next N `/admin/jobs` answers are `200` with `data: []` (as NetBackup answers a role without RBAC).
    pub empty: u64,
    /// The next N `/admin/jobs` pages hold only the first half of their items (pagination unchanged): jobs
    /// missing from an answer, as offset drift or a server-side error leaves them.
    pub short_pages: u64,
    /// Every versioned request is refused with 406, whatever version it asks for (a gateway that rejects all).
    pub reject_versions: bool,
    /// Every job item carries an unknown attribute of this many bytes (big pages for memory tests).
    pub pad_bytes: usize,
    /// Tape drive state and cleaning overrides (`drive_state=DRIVE:STATE`, `drive_clean=DRIVE[:done]`).
    pub tape: super::tape::Overrides,
}

impl Control {
    /// Takes one from a "next N" counter: true if it was armed.
    pub fn take(n: &mut u64) -> bool {
        let armed = *n > 0;
        *n = n.saturating_sub(1);
        armed
    }
}

impl Sim {
    /// Applies `q`'s controls, all or none.
    pub fn control_hook(&self, q: &BTreeMap<String, String>) -> Reply {
        let mut c = self.control.lock().clone();
        for (k, v) in q {
            let n = || v.parse::<u64>().unwrap_or(0);
            match k.as_str() {
                "latency_ms" => c.latency_ms = n(),
                "fail" => c.fail = v.parse().ok().filter(|s: &u16| *s >= 400),
                "fail_count" => c.fail_count = n(),
                "retry_after" => c.retry_after = v.parse().ok(),
                "fail_paths" => c.fail_paths = v.clone(),
                "hang_ms" => c.hang_ms = n(),
                "hold" => c.hold = v == "1",
                "garbage" => c.garbage = v == "1",
                "no_rbac" => c.no_rbac = v == "1",
                "empty" => c.empty = n(),
                "short_pages" => c.short_pages = n(),
                "reject_versions" => c.reject_versions = v == "1",
                "pad_bytes" => c.pad_bytes = n() as usize,
                "freeze" if v == "1" => c.frozen_at = Some(c.frozen_at.unwrap_or_else(now_ms)),
                "freeze" => c.frozen_at = None,
                "api_key" => *self.api_key.lock() = v.clone(),
                "disk_state" => match v.rsplit_once(':') {
                    Some((what, state)) => {
                        c.disk_states.insert(what.to_string(), state.to_string());
                    }
                    None => return error_reply(400, 8961, "disk_state wants POOL:STATE or POOL/VOLUME:STATE"),
                },
                "server_state" => match v.rsplit_once(':') {
                    Some((name, state)) => {
                        c.server_states.insert(name.to_string(), state.to_string());
                    }
                    None => return error_reply(400, 8961, "server_state wants NAME:STATE"),
                },
                "service_state" => match v.rsplit_once(':') {
                    Some((what, status)) if what.contains('/') => {
                        c.service_states.insert(what.to_string(), status.to_string());
                    }
                    _ => return error_reply(400, 8961, "service_state wants HOST/SERVICE:STATUS"),
                },
                "drive_state" | "drive_clean" => {
                    if let Err(e) = c.tape.apply(k, v, now_ms()) {
                        return error_reply(400, 8961, &e);
                    }
                }
                "reset_stats" => self.stats.lock().clear(),
                "revoke_tokens" => self.tokens.lock().clear(),
                _ => return error_reply(400, 8961, &format!("unknown control {k}")),
            }
        }
        *self.control.lock() = c;
        json_reply(200, &json!({"ok": true}), None)
    }
}
