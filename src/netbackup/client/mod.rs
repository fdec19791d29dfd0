//! Blocking NetBackup REST client: media-type versioning, timeouts, proxy and TLS, retries, typed errors.
//!
//! Split by concern: [`error`] (typed errors and the retry policy), [`auth`] (API key or login token), [`walk`]
//! (paging through list endpoints), [`stats`] (request accounting), [`tls`] (trust roots, transport errors).

mod auth;
pub mod error;
mod stats;
mod tls;
pub mod walk;

pub use error::{ApiError, ERROR_KINDS, RETRIES};
pub use stats::{ApiStats, REQUEST_BUCKETS};
pub use walk::{List, Paging, Walk, WalkStats};

use super::models::ErrorEnvelope;
use super::time::{parse_http_date, EpochMs};
use crate::config::{ApiVersion, Login, ProxySetting, Scheme, Secret, SiteConfig};
use error::{backoff, retryable, RETRY_AFTER_CAP};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tls::{describe, trust_roots};

/// API versions tried, newest first, when `/ping` does not name one (the 406 ladder).
pub const VERSION_LADDER: &[ApiVersion] = &[
    ApiVersion::new(14, 0),
    ApiVersion::new(13, 0),
    ApiVersion::new(12, 0),
    ApiVersion::new(11, 0),
    ApiVersion::new(10, 0),
    ApiVersion::new(9, 0),
    ApiVersion::new(8, 0),
    ApiVersion::new(7, 0),
    ApiVersion::new(6, 0),
    ApiVersion::new(5, 0),
    ApiVersion::new(4, 0),
    ApiVersion::new(3, 0),
];

/// Percent-encodes a query component per RFC 3986 (brackets, spaces and colons included).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_string(query: &[(&str, String)]) -> String {
    query.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect::<Vec<_>>().join("&")
}

/// A client for one NetBackup primary server.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    api_key: Secret,
    login: Option<Login>,
    /// The current login token and when to renew it.
    token: Mutex<Option<(Secret, std::time::Instant)>>,
    body_limit: u64,
    stats: Arc<Mutex<ApiStats>>,
}

impl Client {
    /// A client recording its requests in `stats` (shared across the clients a reload replaces).
    pub fn new(site: &SiteConfig, stats: Arc<Mutex<ApiStats>>) -> Result<Client, String> {
        let proxy = match &site.proxy {
            ProxySetting::Environment => ureq::Proxy::try_from_env(),
            ProxySetting::Direct => None,
            ProxySetting::Url(u) => {
                Some(ureq::Proxy::new(u).map_err(|e| format!("site {}: proxy {u:?} is not usable: {e}", site.site))?)
            }
        };
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .disable_verification(site.insecure_skip_verify && site.scheme == Scheme::Https);
        if let Some(roots) = trust_roots(site)? {
            tls = tls.root_certs(roots);
        }
        let tls = tls.build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(site.connect_timeout))
            .timeout_global(Some(site.request_timeout))
            .proxy(proxy)
            .tls_config(tls)
            .user_agent(concat!("nbu_exporter/", env!("CARGO_PKG_VERSION")))
            // Parallel walks keep their connections (the default of 3 idle per host would reconnect one of four).
            .max_idle_connections_per_host(site.concurrency.max(3))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            super::resolve::FallbackResolver::default(),
        );
        Ok(Client {
            agent,
            base: site.base_url(),
            api_key: site.api_key.clone(),
            login: site.login.clone(),
            token: Mutex::new(None),
            body_limit: site.max_response_bytes,
            stats,
        })
    }

    /// A human description of the proxy in use, without credentials.
    pub fn proxy_description(&self) -> String {
        match self.agent.config().proxy() {
            None => "direct".into(),
            Some(p) => format!("{}:{}{}", p.host(), p.port(), if p.is_from_env() { " (from environment)" } else { "" }),
        }
    }

    /// One HTTP exchange, recorded in the site's [`ApiStats`]. A 2xx body goes to `parse` as a stream; any other
    /// answer's body (an error envelope) is read whole, up to [`ERROR_BODY_LIMIT`].
    fn send<T>(
        &self,
        at: At<'_>,
        query: &[(&str, String)],
        accept: &str,
        auth: bool,
        parse: &dyn Fn(&mut ureq::Body) -> Result<T, ApiError>,
    ) -> Result<(http_parts::Parts, Answer<T>), ApiError> {
        let once = || {
            let started = std::time::Instant::now();
            let result = self.send_inner(at.path, query, accept, auth, parse);
            let status = result.as_ref().ok().map(|(_, a)| a.status());
            self.stats.lock().record(at.endpoint, status, started.elapsed());
            result
        };
        let result = once();
        if auth && self.login.is_some() && matches!(result, Ok((_, Answer::Failed(401, _)))) {
            // The token expired or was revoked early: log in again once and repeat the request.
            *self.token.lock() = None;
            return once();
        }
        result
    }

    /// Records a request that is not a GET of [`send`] (the login POST).
    fn record(&self, path: &'static str, status: Option<u16>, took: Duration) {
        self.stats.lock().record(path, status, took);
    }

    fn send_inner<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
        auth: bool,
        parse: &dyn Fn(&mut ureq::Body) -> Result<T, ApiError>,
    ) -> Result<(http_parts::Parts, Answer<T>), ApiError> {
        let qs = query_string(query);
        let url = if qs.is_empty() { format!("{}{path}", self.base) } else { format!("{}{path}?{qs}", self.base) };
        let mut req = self.agent.get(&url).header("Accept", accept);
        if auth {
            let value = self.authorization()?;
            req = req.header("Authorization", value.expose());
        }
        let mut resp = req.call().map_err(|e| transport_error(path, &e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let parts = http_parts::Parts {
            api_version: header("x-netbackup-api-version"),
            date: header("date").and_then(|d| parse_http_date(&d)),
            retry_after: header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(RETRY_AFTER_CAP.as_secs()))),
        };
        if (200..300).contains(&status) {
            return Ok((parts, Answer::Ok(status, parse(resp.body_mut())?)));
        }
        let limit = self.body_limit.min(ERROR_BODY_LIMIT);
        let body = resp.body_mut().with_config().limit(limit).read_to_vec().unwrap_or_default();
        Ok((parts, Answer::Failed(status, body)))
    }

    /// The error for a non-2xx answer.
    fn failure(path: &str, status: u16, body: &[u8], version: ApiVersion, retry_after: Option<Duration>) -> ApiError {
        let env: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
        let path = path.to_string();
        match status {
            401 => {
                ApiError::Unauthorized { path, message: env.error_message.unwrap_or_else(|| "no error message".into()) }
            }
            406 => ApiError::NotAcceptable { path, version },
            _ => ApiError::Status { path, status, code: env.error_code, message: env.error_message, retry_after },
        }
    }

    /// Authenticated GET of a JSON document at the given API version, retried with backoff on transient failures.
    pub fn get_json<'p, T: DeserializeOwned + Send + 'static>(
        &self,
        at: impl Into<At<'p>>,
        query: &[(&str, String)],
        version: ApiVersion,
    ) -> Result<(T, Option<EpochMs>), ApiError> {
        let at = at.into();
        let parse: &Parse = &|r| serde_json::from_reader::<_, T>(r).map(|t| Box::new(t) as Erased);
        let (value, date) = self.get_erased(at, query, version, parse)?;
        match value.downcast::<T>() {
            Ok(t) => Ok((*t, date)),
            Err(_) => Err(ApiError::Decode { path: at.path.into(), detail: "internal: answer of another type".into() }),
        }
    }

    /// [`get_json`](Self::get_json) with the decoding passed in: the request, retry and error code exists once,
    /// not once per answer type (every model would otherwise carry its own copy of it in the binary).
    pub(crate) fn get_erased(
        &self,
        at: At<'_>,
        query: &[(&str, String)],
        version: ApiVersion,
        parse: &Parse,
    ) -> Result<(Erased, Option<EpochMs>), ApiError> {
        let mut attempt = 0;
        loop {
            match self.get_once(at, query, version, parse) {
                Err(e) if attempt < RETRIES && retryable(&e) => {
                    let wait = backoff(attempt, &e);
                    log::debug!("{e}; retrying in {:.1}s", wait.as_secs_f64());
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One GET whose 2xx body is parsed as it arrives: the page's text is never held whole, so the memory a page
    /// costs is what its decoded items keep (fields the models ignore are skipped unread into memory).
    fn get_once(
        &self,
        at: At<'_>,
        query: &[(&str, String)],
        version: ApiVersion,
        parse: &Parse,
    ) -> Result<(Erased, Option<EpochMs>), ApiError> {
        let path = at.path;
        let accept = format!("application/vnd.netbackup+json;version={version}");
        let limit = self.body_limit;
        let read = |body: &mut ureq::Body| -> Result<Erased, ApiError> {
            let mut reader = std::io::BufReader::with_capacity(64 << 10, body.with_config().limit(limit).reader());
            parse(&mut reader).map_err(|e| body_error(path, e))
        };
        match self.send(at, query, &accept, true, &read)? {
            (parts, Answer::Ok(_, value)) => Ok((value, parts.date)),
            (parts, Answer::Failed(status, body)) => {
                Err(Self::failure(path, status, &body, version, parts.retry_after))
            }
        }
    }

    /// Unauthenticated `GET /ping`: the server's own API version from `X-NetBackup-API-Version`, if it sends one.
    pub fn ping(&self) -> Result<Option<ApiVersion>, ApiError> {
        match self.send("/ping".into(), &[], "text/vnd.netbackup+plain", false, &|_| Ok(()))? {
            (parts, Answer::Ok(..)) => Ok(parts.api_version.as_deref().and_then(ApiVersion::parse)),
            (_, Answer::Failed(status, body)) => {
                let env: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_default();
                log::debug!(
                    "GET /ping answered HTTP {status} (errorCode {:?}); falling back to the version ladder",
                    env.error_code
                );
                Ok(None)
            }
        }
    }

    /// Picks the API version: the server's `/ping` version capped at the newest we support, else the 406 ladder
    /// on `/admin/jobs`. A 401 stops at once: a bad key would fail every rung.
    pub fn detect_version(&self) -> Result<ApiVersion, ApiError> {
        if let Some(server) = self.ping()? {
            if let Some(v) = VERSION_LADDER.iter().find(|v| **v <= server) {
                log::debug!("server reports API version {server}; using {v}");
                return Ok(*v);
            }
        }
        for &v in VERSION_LADDER {
            match self.get_json::<serde::de::IgnoredAny>("/admin/jobs", &[("page[limit]", "1".into())], v) {
                Ok(_) => return Ok(v),
                Err(ApiError::NotAcceptable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let (newest, oldest) = (VERSION_LADDER[0], VERSION_LADDER[VERSION_LADDER.len() - 1]);
        Err(ApiError::NoVersion { newest, oldest })
    }
}

/// A decoded answer of any type (downcast by the typed caller).
pub(crate) type Erased = Box<dyn std::any::Any + Send>;
/// The body of a 2xx answer, as it streams in.
pub(crate) type BodyReader<'a> = std::io::BufReader<ureq::BodyReader<'a>>;
/// Decodes an answer's body: the only part of a GET that depends on the answer's type.
pub(crate) type Parse = dyn for<'a, 'b> Fn(&'a mut BodyReader<'b>) -> Result<Erased, serde_json::Error> + Sync;

/// Where a request goes: the endpoint it is counted under (a fixed path or template such as
/// `/admin/hosts/{hostId}/services`, so request metrics stay bounded) and the path actually requested.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub endpoint: &'static str,
    pub path: &'a str,
}

impl From<&'static str> for At<'static> {
    fn from(path: &'static str) -> Self {
        At { endpoint: path, path }
    }
}

/// How much of an error answer's body is read: NetBackup's error envelopes are a few hundred bytes.
const ERROR_BODY_LIMIT: u64 = 1 << 20;

/// An answer: a 2xx with its parsed body, or another status with the (bounded) body text.
enum Answer<T> {
    Ok(u16, T),
    Failed(u16, Vec<u8>),
}

impl<T> Answer<T> {
    fn status(&self) -> u16 {
        match self {
            Answer::Ok(s, _) | Answer::Failed(s, _) => *s,
        }
    }
}

/// A failure while reading and parsing a 2xx body: the size cap, the transport (timeout, reset) or bad JSON.
fn body_error(path: &str, e: serde_json::Error) -> ApiError {
    if !e.is_io() {
        return ApiError::Decode { path: path.to_string(), detail: e.to_string() };
    }
    match ureq::Error::from(std::io::Error::from(e)) {
        ureq::Error::BodyExceedsLimit(n) => ApiError::Decode {
            path: path.to_string(),
            detail: format!("body larger than maxResponseSize ({n} bytes); raise it if the server is trusted"),
        },
        other => transport_error(path, &other),
    }
}

/// A request that got no (complete) answer: [`ApiError::Timeout`] when a timeout ended it, else `Transport`.
fn transport_error(path: &str, e: &ureq::Error) -> ApiError {
    let (path, detail) = (path.to_string(), describe(e));
    match e {
        ureq::Error::Timeout(_) => ApiError::Timeout { path, detail },
        _ => ApiError::Transport { path, detail },
    }
}

mod http_parts {
    /// The response headers the exporter reads.
    pub struct Parts {
        pub api_version: Option<String>,
        pub date: Option<super::EpochMs>,
        pub retry_after: Option<std::time::Duration>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_fully_percent_encoded() {
        let q = query_string(&[
            ("page[limit]", "100".into()),
            ("filter", "lastUpdateTime ge 2026-07-09T09:43:18.000Z".into()),
            ("page[after]", "1783591866000:812692".into()),
        ]);
        assert_eq!(
            q,
            "page%5Blimit%5D=100&filter=lastUpdateTime%20ge%202026-07-09T09%3A43%3A18.000Z&page%5Bafter%5D=1783591866000%3A812692"
        );
    }
}
