//! Blocking NetBackup REST client: auth header, media-type versioning, timeouts, proxy, TLS and typed errors.

use super::models::{ErrorEnvelope, Item, Page};
use super::time::{parse_http_date, EpochMs};
use crate::config::{load_ca_file, ApiVersion, Login, ProxySetting, Scheme, Secret, SiteConfig};
use crate::exposition::Histogram;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Safety stop for pagination loops whose server never says "last page".
const MAX_PAGES: usize = 100_000;

/// Why a NetBackup request failed. Never contains the API key.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// Could not talk to the server at all (refused, DNS, TLS, timeout).
    Transport { path: String, detail: String },
    /// 401: the key is wrong, expired, or lacks RBAC permission.
    Unauthorized { path: String, message: String },
    /// 406: the server does not speak this API version.
    NotAcceptable { path: String, version: ApiVersion },
    /// Any other non-2xx answer, with NetBackup's error envelope when present.
    Status { path: String, status: u16, code: Option<i64>, message: Option<String>, retry_after: Option<Duration> },
    /// A 2xx answer whose body is not what the API documents.
    Decode { path: String, detail: String },
    /// The collection ran past its site's `collectionTimeout`.
    Deadline { path: String, pages: usize, limit: Duration },
}

impl ApiError {
    /// A short, bounded label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Transport { .. } => "transport",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotAcceptable { .. } => "version",
            ApiError::Status { .. } => "http",
            ApiError::Decode { .. } => "decode",
            ApiError::Deadline { .. } => "deadline",
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ApiError::Transport { path, detail } => write!(f, "GET {path}: cannot reach NetBackup: {detail}"),
            ApiError::Unauthorized { path, message } => write!(
                f,
                "GET {path}: 401 unauthorized ({message}); check that apiKey is valid and not expired, and that its \
                 RBAC role grants view access to jobs and storage units"
            ),
            ApiError::NotAcceptable { path, version } => {
                write!(f, "GET {path}: 406, the server does not support API version {version}")
            }
            ApiError::Status { path, status, code, message, .. } => {
                write!(f, "GET {path}: HTTP {status}")?;
                if let Some(c) = code {
                    write!(f, " errorCode {c}")?;
                }
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            ApiError::Decode { path, detail } => write!(f, "GET {path}: unexpected response body: {detail}"),
            ApiError::Deadline { path, pages, limit } => write!(
                f,
                "GET {path}: collection deadline of {}s passed after {pages} page(s); raise collectionTimeout or \
                 shorten scrapingInterval",
                limit.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// Extra attempts after a transient failure (connection refused or reset, 429, 5xx).
pub const RETRIES: u32 = 2;
/// First retry delay; doubled per attempt, with ±50 % jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// A server's `Retry-After` is honoured up to this long.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// Transient failures are retried: refused/reset connections, 429 and 5xx. Timeouts are not (the request already
/// used its whole budget), nor TLS trust problems, nor other 4xx (a bad key or request will not improve).
fn retryable(e: &ApiError) -> bool {
    match e {
        ApiError::Transport { detail, .. } => !detail.contains("timed out") && !detail.contains("TLS"),
        ApiError::Status { status, .. } => *status == 429 || (500..600).contains(status),
        _ => false,
    }
}

/// Exponential backoff with jitter, or the server's `Retry-After` when it sent one.
fn backoff(attempt: u32, e: &ApiError) -> Duration {
    if let ApiError::Status { retry_after: Some(d), .. } = e {
        return *d;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0; // 0.5 ..< 1.5
    BACKOFF_BASE.mul_f64(f64::from(1u32 << attempt.min(10)) * jitter)
}

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

/// How a list endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page[after]` ← `meta.pagination.next` (`/admin/jobs` at API ≥ 9.0).
    Cursor,
    /// `page[offset]`/`page[limit]` (everything else, and jobs before 9.0).
    Offset,
}

/// What a list walk fetches: the endpoint, the API version, how it pages, and the page size.
#[derive(Debug, Clone, Copy)]
pub struct List {
    pub path: &'static str,
    pub version: ApiVersion,
    pub paging: Paging,
    pub limit: u32,
}

/// One unit of work of [`Client::walk_parallel`]: a slice walked from `offset`, or the single page at `offset`.
struct Task<'q> {
    query: &'q [(&'static str, String)],
    offset: i64,
    single: bool,
}

/// What a completed list walk saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalkStats {
    pub pages: usize,
    pub items: usize,
    /// The server's clock (`Date` header) when it answered the first page.
    pub server_time: Option<EpochMs>,
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
    collection_timeout: Duration,
    stats: Arc<Mutex<ApiStats>>,
}

/// API request latency buckets in seconds.
pub const REQUEST_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Requests to NetBackup per endpoint (a fixed path, never a full URL) and answer code (`error`: no answer).
#[derive(Debug, Default)]
pub struct ApiStats {
    pub requests: BTreeMap<(&'static str, String), u64>,
    pub durations: BTreeMap<&'static str, Histogram>,
}

impl ApiStats {
    fn record(&mut self, endpoint: &'static str, code: String, took: Duration) {
        *self.requests.entry((endpoint, code)).or_default() += 1;
        self.durations.entry(endpoint).or_insert_with(|| Histogram::new(REQUEST_BUCKETS)).observe(took.as_secs_f64());
    }
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
            collection_timeout: site.collection_timeout,
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

    /// One HTTP exchange, recorded in the site's [`ApiStats`].
    fn send(
        &self,
        path: &'static str,
        query: &[(&str, String)],
        accept: &str,
        auth: bool,
    ) -> Result<(u16, http_parts::Parts, Vec<u8>), ApiError> {
        let once = || {
            let started = std::time::Instant::now();
            let result = self.send_inner(path, query, accept, auth);
            let code = match &result {
                Ok((status, _, _)) => status.to_string(),
                Err(_) => "error".to_string(),
            };
            self.stats.lock().record(path, code, started.elapsed());
            result
        };
        let result = once();
        if auth && self.login.is_some() && matches!(result, Ok((401, _, _))) {
            // The token expired or was revoked early: log in again once and repeat the request.
            *self.token.lock() = None;
            return once();
        }
        result
    }

    /// The `Authorization` value: the API key, or a login token (logging in when there is none or it is about to
    /// expire: renewed at 90 % of its validity).
    fn authorization(&self) -> Result<Secret, ApiError> {
        let Some(login) = &self.login else { return Ok(self.api_key.clone()) };
        let mut token = self.token.lock();
        if let Some((t, renew_at)) = token.as_ref() {
            if std::time::Instant::now() < *renew_at {
                return Ok(t.clone());
            }
        }
        let (user, password, domain, domain_type) = match login {
            Login::Password { username, password, domain, domain_type } => {
                (username.as_str(), password.expose(), domain.as_deref(), domain_type.as_deref())
            }
            Login::ApiKey => ("apikey", self.api_key.expose(), Some("vrts.apikey"), Some("vx")),
        };
        let mut body = serde_json::json!({"userName": user, "password": password});
        if let Some(d) = domain {
            body["domainName"] = d.into();
        }
        if let Some(t) = domain_type {
            body["domainType"] = t.into();
        }
        let started = std::time::Instant::now();
        let url = format!("{}/login", self.base);
        let resp = self
            .agent
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(body.to_string());
        let fail = |detail: String| ApiError::Transport { path: "/login".into(), detail };
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.stats.lock().record("/login", "error".into(), started.elapsed());
                return Err(fail(describe(&e)));
            }
        };
        let status = resp.status().as_u16();
        self.stats.lock().record("/login", status.to_string(), started.elapsed());
        let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default();
        if status == 401 {
            return Err(ApiError::Unauthorized {
                path: "/login".into(),
                message: "login refused; check username/password (or the API key) and its domain".into(),
            });
        }
        #[derive(serde::Deserialize)]
        struct LoginResponse {
            token: String,
            #[serde(default)]
            validity: Option<u64>,
        }
        let parsed: LoginResponse = match (status, serde_json::from_str(&text)) {
            (200 | 201, Ok(p)) => p,
            _ => {
                let env: ErrorEnvelope = serde_json::from_str(&text).unwrap_or_default();
                return Err(ApiError::Status {
                    path: "/login".into(),
                    status,
                    code: env.error_code,
                    message: env.error_message,
                    retry_after: None,
                });
            }
        };
        let validity = Duration::from_secs(parsed.validity.unwrap_or(7200).max(10));
        let secret = Secret::new(parsed.token);
        *token = Some((secret.clone(), std::time::Instant::now() + validity.mul_f64(0.9)));
        Ok(secret)
    }

    fn send_inner(
        &self,
        path: &'static str,
        query: &[(&str, String)],
        accept: &str,
        auth: bool,
    ) -> Result<(u16, http_parts::Parts, Vec<u8>), ApiError> {
        let qs = query_string(query);
        let url = if qs.is_empty() { format!("{}{path}", self.base) } else { format!("{}{path}?{qs}", self.base) };
        let mut req = self.agent.get(&url).header("Accept", accept);
        if auth {
            let value = self.authorization()?;
            req = req.header("Authorization", value.expose());
        }
        let mut resp = req.call().map_err(|e| ApiError::Transport { path: path.to_string(), detail: describe(&e) })?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let parts = http_parts::Parts {
            api_version: header("x-netbackup-api-version"),
            date: header("date").and_then(|d| parse_http_date(&d)),
            retry_after: header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(RETRY_AFTER_CAP.as_secs()))),
        };
        let body = resp.body_mut().with_config().limit(self.body_limit).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(n) => ApiError::Decode {
                path: path.to_string(),
                detail: format!("body larger than maxResponseSize ({n} bytes); raise it if the server is trusted"),
            },
            e => ApiError::Transport { path: path.to_string(), detail: describe(&e) },
        })?;
        Ok((status, parts, body))
    }

    fn check(
        path: &str,
        status: u16,
        body: &[u8],
        version: ApiVersion,
        retry_after: Option<Duration>,
    ) -> Result<(), ApiError> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let env: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
        let path = path.to_string();
        Err(match status {
            401 => {
                ApiError::Unauthorized { path, message: env.error_message.unwrap_or_else(|| "no error message".into()) }
            }
            406 => ApiError::NotAcceptable { path, version },
            _ => ApiError::Status { path, status, code: env.error_code, message: env.error_message, retry_after },
        })
    }

    /// Authenticated GET of a JSON document at the given API version, retried with backoff on transient failures.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, String)],
        version: ApiVersion,
    ) -> Result<(T, Option<EpochMs>), ApiError> {
        let mut attempt = 0;
        loop {
            match self.get_json_once(path, query, version) {
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

    fn get_json_once<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, String)],
        version: ApiVersion,
    ) -> Result<(T, Option<EpochMs>), ApiError> {
        let accept = format!("application/vnd.netbackup+json;version={version}");
        let (status, parts, body) = self.send(path, query, &accept, true)?;
        Self::check(path, status, &body, version, parts.retry_after)?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode { path: path.to_string(), detail: e.to_string() })?;
        Ok((value, parts.date))
    }

    /// Unauthenticated `GET /ping`: the server's own API version from `X-NetBackup-API-Version`, if it sends one.
    pub fn ping(&self) -> Result<Option<ApiVersion>, ApiError> {
        let (status, parts, body) = self.send("/ping", &[], "text/vnd.netbackup+plain", false)?;
        if !(200..300).contains(&status) {
            let env: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_default();
            log::debug!(
                "GET /ping answered HTTP {status} (errorCode {:?}); falling back to the version ladder",
                env.error_code
            );
            return Ok(None);
        }
        Ok(parts.api_version.as_deref().and_then(ApiVersion::parse))
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
        let mut last = None;
        for &v in VERSION_LADDER {
            match self.get_json::<serde::de::IgnoredAny>("/admin/jobs", &[("page[limit]", "1".into())], v) {
                Ok(_) => return Ok(v),
                Err(e @ ApiError::NotAcceptable { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ApiError::Status {
            path: "/admin/jobs".into(),
            status: 406,
            code: None,
            message: None,
            retry_after: None,
        }))
    }

    /// Several walks at once, at most `concurrency` requests in flight, all within one collection deadline:
    /// * cursor paging: each query is a slice (e.g. a time range) walked page by page; the first slice alone, then
    ///   the others in parallel;
    /// * offset paging (one query): the first page tells the record count, the remaining pages are fetched in
    ///   parallel by offset.
    ///
    /// Pages reach `on_page` on the calling thread, one at a time, in no particular order. The first error stops
    /// the other workers at their next page and is returned.
    pub fn walk_parallel<A: DeserializeOwned + Send>(
        &self,
        list: List,
        queries: &[Vec<(&'static str, String)>],
        concurrency: usize,
        on_page: &mut dyn FnMut(Vec<Item<A>>),
    ) -> Result<WalkStats, ApiError> {
        let List { path, version, paging, limit } = list;
        let deadline = Instant::now() + self.collection_timeout;
        let cancel = AtomicBool::new(false);
        let mut total = WalkStats::default();
        let mut tasks: Vec<Task<'_>> = Vec::new();
        match paging {
            Paging::Cursor => {
                // The first slice alone: a bad key or version fails after one request, not one per slice.
                let Some((first, rest)) = queries.split_first() else { return Ok(total) };
                total = self.walk_from(list, first, 0, deadline, &cancel, on_page)?;
                tasks.extend(rest.iter().map(|q| Task { query: q, offset: 0, single: false }));
            }
            Paging::Offset => {
                for q in queries {
                    // The first page, alone: its pagination says how many pages follow.
                    let (page, date): (Page<A>, _) =
                        self.get_json(path, &with_page(q, limit, None, Some(0)), version)?;
                    total.pages += 1;
                    total.server_time = earliest(total.server_time, date);
                    let data = page.data.unwrap_or_default();
                    let n = data.len() as i64;
                    total.items += data.len();
                    let count = page.meta.and_then(|m| m.pagination).and_then(|p| p.count);
                    on_page(data);
                    match count {
                        Some(count) if n > 0 => {
                            let pages = ((count - n).max(0) + i64::from(limit) - 1) / i64::from(limit);
                            let pages = pages.min(MAX_PAGES as i64);
                            tasks.extend((0..pages).map(|i| Task {
                                query: q,
                                offset: n + i * i64::from(limit),
                                single: true,
                            }));
                        }
                        Some(_) => {}
                        // No count: walk on sequentially from the second page.
                        None if n > 0 => tasks.push(Task { query: q, offset: n, single: false }),
                        None => {}
                    }
                }
            }
        }
        if tasks.is_empty() {
            return Ok(total);
        }
        let workers = concurrency.clamp(1, tasks.len());
        let queue = Mutex::new(tasks.into_iter());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Item<A>>, ApiError>>(workers * 2);
        let results: Mutex<Vec<Result<WalkStats, ApiError>>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (queue, cancel, results) = (&queue, &cancel, &results);
                scope.spawn(move || loop {
                    let Some(Task { query, offset, single }) = queue.lock().next() else { break };
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = if single {
                        self.page_at(list, query, offset, deadline).map(|(stats, items)| {
                            let _ = tx.send(Ok(items));
                            stats
                        })
                    } else {
                        self.walk_from(list, query, offset, deadline, cancel, &mut |items| {
                            let _ = tx.send(Ok(items));
                        })
                    };
                    if let Err(e) = &r {
                        cancel.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(e.clone()));
                    }
                    results.lock().push(r);
                });
            }
            drop(tx);
            for msg in rx {
                match msg {
                    Ok(items) => on_page(items),
                    Err(_) => cancel.store(true, Ordering::Relaxed),
                }
            }
        });
        for r in results.into_inner() {
            let s = r?;
            total.pages += s.pages;
            total.items += s.items;
            total.server_time = earliest(total.server_time, s.server_time);
        }
        Ok(total)
    }

    /// One offset page, as a task of [`walk_parallel`].
    fn page_at<A: DeserializeOwned>(
        &self,
        List { path, version, limit, .. }: List,
        query: &[(&str, String)],
        offset: i64,
        deadline: Instant,
    ) -> Result<(WalkStats, Vec<Item<A>>), ApiError> {
        if Instant::now() > deadline {
            return Err(ApiError::Deadline { path: path.to_string(), pages: 0, limit: self.collection_timeout });
        }
        let (page, date): (Page<A>, _) = self.get_json(path, &with_page(query, limit, None, Some(offset)), version)?;
        let data = page.data.unwrap_or_default();
        Ok((WalkStats { pages: 1, items: data.len(), server_time: date }, data))
    }

    /// The sequential walk, from `offset` (offset paging) or the first page (cursor paging), until the last page,
    /// `deadline`, or `cancel`.
    fn walk_from<A: DeserializeOwned>(
        &self,
        List { path, version, paging, limit }: List,
        query: &[(&str, String)],
        mut offset: i64,
        deadline: Instant,
        cancel: &AtomicBool,
        on_page: &mut dyn FnMut(Vec<Item<A>>),
    ) -> Result<WalkStats, ApiError> {
        let mut stats = WalkStats::default();
        let mut cursor: Option<String> = None;
        loop {
            if stats.pages > 0 && Instant::now() > deadline {
                return Err(ApiError::Deadline {
                    path: path.to_string(),
                    pages: stats.pages,
                    limit: self.collection_timeout,
                });
            }
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let q = match paging {
                Paging::Cursor => with_page(query, limit, cursor.as_deref(), None),
                Paging::Offset => with_page(query, limit, None, Some(offset)),
            };
            let (page, date): (Page<A>, _) = self.get_json(path, &q, version)?;
            if stats.pages == 0 {
                stats.server_time = date;
            }
            stats.pages += 1;
            let data = page.data.unwrap_or_default();
            let n = data.len();
            stats.items += n;
            let pagination = page.meta.and_then(|m| m.pagination).unwrap_or_default();
            on_page(data);
            if n == 0 || stats.pages >= MAX_PAGES {
                break;
            }
            match paging {
                Paging::Cursor => match pagination.next {
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    Some(_) => {
                        return Err(ApiError::Decode {
                            path: path.to_string(),
                            detail: "the server returned the same page cursor twice".into(),
                        })
                    }
                    None => break,
                },
                Paging::Offset => {
                    let next = pagination.next.as_deref().and_then(|s| s.parse::<i64>().ok());
                    let reached_end = pagination.last.is_some_and(|last| offset >= last)
                        || pagination.count.is_some_and(|count| offset + n as i64 >= count)
                        || (next.is_none() && pagination.count.is_none() && (n as u32) < limit);
                    if reached_end {
                        break;
                    }
                    offset = match next {
                        Some(nx) if nx > offset => nx,
                        _ => offset + n as i64,
                    };
                }
            }
        }
        Ok(stats)
    }
}

/// `query` plus the paging parameters.
fn with_page<'a>(
    query: &[(&'a str, String)],
    limit: u32,
    after: Option<&str>,
    offset: Option<i64>,
) -> Vec<(&'a str, String)> {
    let mut q = query.to_vec();
    q.push(("page[limit]", limit.to_string()));
    if let Some(c) = after {
        q.push(("page[after]", c.to_string()));
    }
    if let Some(o) = offset {
        q.push(("page[offset]", o.to_string()));
    }
    q
}

fn earliest(a: Option<EpochMs>, b: Option<EpochMs>) -> Option<EpochMs> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
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

/// The system's CA bundles, in the order Go's crypto/x509 tries them (Debian/Ubuntu, RHEL/Fedora, SUSE, …).
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The CAs a site trusts: the system's bundle (`$SSL_CERT_FILE`, else the first of [`SYSTEM_BUNDLES`]) plus the
/// site's `caFile`. `None` (no system bundle, no caFile) leaves ureq's bundled Mozilla roots.
fn trust_roots(site: &SiteConfig) -> Result<Option<ureq::tls::RootCerts>, String> {
    if site.scheme != Scheme::Https {
        return Ok(None); // plain HTTP (the simulator): no CA bundle kept in memory
    }
    let env = std::env::var("SSL_CERT_FILE").ok().filter(|p| !p.is_empty());
    let candidates: Vec<&str> = match &env {
        Some(p) => vec![p.as_str()],
        None => SYSTEM_BUNDLES.to_vec(),
    };
    let mut certs = Vec::new();
    for path in candidates {
        if let Ok(mut found) = load_ca_file(path) {
            log::debug!("site {}: trusting {} CA(s) from {path}", site.site, found.len());
            certs.append(&mut found);
            break;
        }
    }
    if let Some(path) = &site.ca_file {
        let mut extra = load_ca_file(path).map_err(|why| format!("site {}: caFile {path:?} {why}", site.site))?;
        log::debug!("site {}: trusting {} more CA(s) from caFile {path}", site.site, extra.len());
        certs.append(&mut extra);
    }
    Ok((!certs.is_empty()).then(|| ureq::tls::RootCerts::new_with_certs(&certs)))
}

/// A transport error in words an operator can act on. TLS failures arrive as rustls or I/O errors depending
/// on where the handshake failed, so they are recognised by their text.
fn describe(e: &ureq::Error) -> String {
    let text = e.to_string();
    if text.contains("NotValidForName") {
        return format!(
            "TLS certificate is not valid for this host ({text}); use a host: name the certificate lists in its \
             subjectAltName (rustls ignores the CN, so certificates without a subjectAltName are always rejected)"
        );
    }
    if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        return format!(
            "TLS certificate not trusted ({text}); set caFile: to the NetBackup web-service CA (PEM; trusted in \
             addition to the system's CAs), or add that CA to the system trust store, or, for testing only, set \
             insecureSkipVerify: true"
        );
    }
    match e {
        ureq::Error::Timeout(t) => {
            format!("timed out ({t:?}); raise connectTimeout/requestTimeout or check the network")
        }
        ureq::Error::HostNotFound => "host name not found; check host: and DNS".into(),
        ureq::Error::ConnectionFailed => "connection failed; check host:, port: and firewalls".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused; is NetBackup's web service (nbwmc) running on that port?".into()
        }
        _ => text,
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
