//! Typed NetBackup request errors, their bounded `kind` labels, and which of them are worth retrying.

use crate::config::ApiVersion;
use std::fmt;
use std::time::Duration;

/// Why a NetBackup request failed. Never contains the API key.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// Could not talk to the server at all (refused, reset, DNS, TLS).
    Transport { path: String, detail: String },
    /// No answer in time: a request ran past `requestTimeout`/`connectTimeout`, or the collection past its
    /// `collectionTimeout` (and was abandoned).
    Timeout { path: String, detail: String },
    /// 401: the key is wrong, expired, or lacks RBAC permission.
    Unauthorized { path: String, message: String },
    /// 406: the server does not speak this API version.
    NotAcceptable { path: String, version: ApiVersion },
    /// Version negotiation failed: the server answered 406 to every version of the ladder.
    NoVersion { newest: ApiVersion, oldest: ApiVersion },
    /// Any other non-2xx answer, with NetBackup's error envelope when present.
    Status { path: String, status: u16, code: Option<i64>, message: Option<String>, retry_after: Option<Duration> },
    /// A 2xx answer whose body is not what the API documents.
    Decode { path: String, detail: String },
}

/// Every value of [`ApiError::kind`], for series that exist at 0 from the start.
pub const ERROR_KINDS: &[&str] =
    &["transport", "timeout", "unauthorized", "forbidden", "unsupported", "version", "http", "decode"];

impl ApiError {
    /// A short, bounded label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Transport { .. } => "transport",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotAcceptable { .. } | ApiError::NoVersion { .. } => "version",
            ApiError::Status { status: 403, .. } => "forbidden",
            ApiError::Status { status: 404, .. } => "unsupported",
            ApiError::Status { .. } => "http",
            ApiError::Decode { .. } => "decode",
        }
    }

    /// True for failures that say the server as a whole cannot be used now: it cannot be reached (refused,
    /// DNS, TLS) or refuses the exporter's credentials. Such a failure turns `nbu_up` to 0 at once; others
    /// (one endpoint's 5xx, 403 or timeout) leave it to the liveness window.
    pub fn site_down(&self) -> bool {
        matches!(self, ApiError::Transport { .. } | ApiError::Unauthorized { .. })
    }

    /// The collection ran past `limit` after `pages` pages.
    pub fn deadline(path: &str, pages: usize, limit: Duration) -> ApiError {
        ApiError::Timeout {
            path: path.to_string(),
            detail: format!(
                "collection deadline of {}s passed after {pages} page(s); raise collectionTimeout or shorten \
                 scrapingInterval",
                limit.as_secs_f64()
            ),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ApiError::Transport { path, detail } => write!(f, "GET {path}: cannot reach NetBackup: {detail}"),
            ApiError::Timeout { path, detail } => write!(f, "GET {path}: {detail}"),
            ApiError::Unauthorized { path, message } => write!(
                f,
                "GET {path}: 401 unauthorized ({message}); check that apiKey is valid and not expired, and that its \
                 RBAC role grants view access to what the exporter collects"
            ),
            ApiError::NotAcceptable { path, version } => {
                write!(f, "GET {path}: 406, the server does not support API version {version}")
            }
            ApiError::NoVersion { newest, oldest } => write!(
                f,
                "GET /admin/jobs: the server answered 406 to every API version from {newest} down to {oldest}; set \
                 apiVersion: to the version this NetBackup release speaks (README: release and API versions), and \
                 check that host:, port: and uri: point at a NetBackup primary's web service"
            ),
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
        }
    }
}

impl std::error::Error for ApiError {}

/// Extra attempts after a transient failure (connection refused or reset, 429, 5xx).
pub const RETRIES: u32 = 2;
/// First retry delay; doubled per attempt, with ±50 % jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// A server's `Retry-After` is honoured up to this long.
pub(super) const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// Transient failures are retried: refused/reset connections, 429 and 5xx. Timeouts are not (the request already
/// used its whole budget), nor TLS trust problems, nor other 4xx (a bad key or request will not improve).
pub(super) fn retryable(e: &ApiError) -> bool {
    match e {
        ApiError::Transport { detail, .. } => !detail.contains("TLS"),
        ApiError::Status { status, .. } => *status == 429 || (500..600).contains(status),
        _ => false,
    }
}

/// Exponential backoff with jitter, or the server's `Retry-After` when it sent one.
pub(super) fn backoff(attempt: u32, e: &ApiError) -> Duration {
    if let ApiError::Status { retry_after: Some(d), .. } = e {
        return *d;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0; // 0.5 ..< 1.5
    BACKOFF_BASE.mul_f64(f64::from(1u32 << attempt.min(10)) * jitter)
}
