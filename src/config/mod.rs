//! Configuration: the Go exporter's YAML schema, parsed and validated into typed settings with actionable errors.
//!
//! Loading never half-succeeds: [`load`] either returns a complete, validated [`Config`] (plus warnings) or every
//! problem found, each naming the key, the bad value and the fix.

pub mod duration;
pub mod expand;

use serde_yaml::Value;
use std::fmt;
use std::time::Duration;

/// Highest NetBackup API version this exporter has been tested against.
pub const MAX_API_VERSION: ApiVersion = ApiVersion { major: 14, minor: 0 };

pub const DEFAULT_LISTEN_HOST: &str = "0.0.0.0";
pub const DEFAULT_LISTEN_PORT: u16 = 2112;
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";
pub const DEFAULT_SCRAPING_INTERVAL: Duration = Duration::from_secs(3600);
pub const DEFAULT_COLLECTION_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_WORKERS: usize = 4;
/// Requests one site may have in flight to NetBackup during a collection (polite: a primary serves its own GUI).
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_NBU_PORT: u16 = 1556;
pub const DEFAULT_NBU_URI: &str = "/netbackup";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_COLLECTION_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Collectors this build implements.
pub const COLLECTORS: &[&str] = &["jobs", "storage"];
/// Collectors the Go exporter has that we accept (with a warning) but do not implement yet.
const FOREIGN_COLLECTORS: &[&str] =
    &["alerts", "malware", "catalog", "slo", "tape", "perclient", "policies", "slps", "media_servers"];

/// A value that must never reach a log line, error message or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A NetBackup REST API version such as `11.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once('.').unwrap_or((s.trim(), "0"));
        let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_digit());
        (ok(a) && ok(b)).then(|| ApiVersion { major: a.parse().unwrap_or(0), minor: b.parse().unwrap_or(0) })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// How a site reaches NetBackup: through the proxy named by the environment, a given proxy, or directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, honouring `NO_PROXY` (the default).
    Environment,
    /// `proxy: none` — always connect directly.
    Direct,
    /// `proxy: http://proxy:3128`.
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub telemetry_path: String,
    pub scraping_interval: Duration,
    pub collection_interval: Duration,
    pub cache_ttl: Duration,
    pub log_name: Option<String>,
    pub log_level: log::LevelFilter,
    pub workers: usize,
    /// Open client connections beyond this are closed at once.
    pub max_connections: usize,
    /// An idle or stalled client connection is closed after this long.
    pub connection_timeout: Duration,
}

impl ServerConfig {
    pub fn listen_address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
    /// The job window: jobs that finished within it feed the `nbu_jobs_*` gauges.
    pub fn job_window(&self) -> Duration {
        self.scraping_interval.max(self.collection_interval)
    }
}

/// Token login: user name and password (domain optional), or the API-key login form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Password {
        username: String,
        password: Secret,
        domain: Option<String>,
        domain_type: Option<String>,
    },
    /// `apiKeyLogin: true`: log in with the API key (domainName `vrts.apikey`) and use the returned token.
    ApiKey,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    pub site: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub uri: String,
    pub api_key: Secret,
    /// Log in (`POST /login`) for a token instead of sending the API key on every request.
    pub login: Option<Login>,
    pub api_version: Option<ApiVersion>,
    pub insecure_skip_verify: bool,
    /// PEM file of the CA(s) to trust for this site instead of the bundled Mozilla roots.
    pub ca_file: Option<String>,
    pub proxy: ProxySetting,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// One collection (all pages) of one source must finish within this.
    pub collection_timeout: Duration,
    /// Larger response bodies are rejected instead of buffered.
    pub max_response_bytes: u64,
    /// Requests in flight at once while collecting (job time slices, offset pages).
    pub concurrency: usize,
}

impl SiteConfig {
    pub fn base_url(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}:{}{}", self.scheme, host, self.port, self.uri.trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub sites: Vec<SiteConfig>,
    pub jobs_enabled: bool,
    pub storage_enabled: bool,
}

/// Everything wrong with a config file, one line per problem.
#[derive(Debug)]
pub struct ConfigError {
    pub errors: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// A successfully loaded config and the warnings to log about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Reads, parses and validates the config file at `path`.
pub fn load(path: &str) -> Result<Loaded, ConfigError> {
    parse_file_text(&read(path)?, Some(std::path::Path::new(path)), &|k| std::env::var(k).ok())
}

/// Reads the config file's text.
pub fn read(path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        errors: vec![format!("{path}: cannot read config file: {e}; check the path given to --config.file")],
    })
}

/// Parses and validates YAML text; `env` resolves `${VAR}` references.
pub fn parse_str(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    parse_file_text(text, None, env)
}

/// Like [`parse_str`] for the text of the file at `path` (relative `apiKeyFile`s resolve next to it).
pub fn parse_file_text(
    text: &str,
    path: Option<&std::path::Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ConfigError {
        errors: vec![format!("config is not valid YAML: {e}; fix the syntax at the position shown")],
    })?;
    let base = path.and_then(std::path::Path::parent);
    let mut p = Parser { errors: Vec::new(), warnings: Vec::new(), env, base };
    let config = p.config(&root);
    if p.errors.is_empty() {
        Ok(Loaded { config, warnings: p.warnings })
    } else {
        Err(ConfigError { errors: p.errors })
    }
}

struct Parser<'a> {
    errors: Vec<String>,
    warnings: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Directory of the config file, for relative `apiKeyFile` paths outside systemd.
    base: Option<&'a std::path::Path>,
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, if it is close enough to be a typo.
pub fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `64MiB`, `512KiB`, `1GiB`, `100000` (bytes); at least 1 KiB.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let unit = match s[split..].trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit).filter(|v| *v >= 1024)
}

/// `debug`, `info`, `warn`/`warning` or `error`.
pub fn parse_log_level(s: &str) -> Option<log::LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "debug" => Some(log::LevelFilter::Debug),
        "info" => Some(log::LevelFilter::Info),
        "warn" | "warning" => Some(log::LevelFilter::Warn),
        "error" => Some(log::LevelFilter::Error),
        _ => None,
    }
}

/// Reads the certificates of a PEM bundle; an unreadable file or one without certificates is an error.
pub fn load_ca_file(path: &str) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not valid PEM ({e})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// ` (found "apiKy" — a typo of apiKey?)` when an unknown key in `map` is closest to the missing `wanted` key.
fn typo_of(map: Option<&serde_yaml::Mapping>, wanted: &str, known: &[&str]) -> String {
    map.into_iter()
        .flat_map(|m| m.keys())
        .filter_map(Value::as_str)
        .find(|k| !known.contains(k) && nearest(k, known) == Some(wanted))
        .map(|k| format!(" (found {k:?}: a typo of {wanted}?)"))
        .unwrap_or_default()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => serde_yaml::to_string(other).map(|s| s.trim().to_string()).unwrap_or_default(),
    }
}

impl Parser<'_> {
    fn err(&mut self, path: &str, msg: impl fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }

    fn warn(&mut self, path: &str, msg: impl fmt::Display) {
        self.warnings.push(format!("{path}: {msg}"));
    }

    /// The mapping at `path`, after warning about keys outside `known` (and `ignored`, accepted silently-ish).
    fn mapping<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
        ignored: &[(&str, &str)],
    ) -> Option<&'v serde_yaml::Mapping> {
        let map = match v {
            Value::Mapping(m) => m,
            Value::Null => return None,
            other => {
                self.err(
                    path,
                    format_args!("expected a mapping of keys, found {}; indent the keys under {path}:", show(other)),
                );
                return None;
            }
        };
        for k in map.keys() {
            let Some(key) = k.as_str() else {
                self.warn(path, format_args!("ignoring non-string key {}", show(k)));
                continue;
            };
            if known.contains(&key) {
                continue;
            }
            if let Some((_, why)) = ignored.iter().find(|(name, _)| *name == key) {
                self.warn(&format!("{path}.{key}"), format_args!("ignored: {why}"));
                continue;
            }
            let mut all: Vec<&str> = known.to_vec();
            all.extend(ignored.iter().map(|(k, _)| *k));
            match nearest(key, &all) {
                Some(s) => {
                    self.warn(&format!("{path}.{key}"), format_args!("unknown key ignored; did you mean {s:?}?"))
                }
                None => self.warn(
                    &format!("{path}.{key}"),
                    format_args!("unknown key ignored; valid keys here are: {}", known.join(", ")),
                ),
            }
        }
        Some(map)
    }

    /// A string scalar with `${VAR}` expanded; numbers and booleans are accepted as their text.
    fn string(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str) -> Option<String> {
        let v = map?.get(key)?;
        let path = format!("{path}.{key}");
        let raw = match v {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                self.err(&path, format_args!("expected a single value, found {}", show(other)));
                return None;
            }
        };
        match expand::expand(&raw, self.env) {
            Ok(s) => Some(s),
            Err(name) if raw.contains(&format!("${{{name}}}")) => {
                self.err(&path, format_args!("environment variable {name} is not set; export {name} (for systemd: Environment= or EnvironmentFile=) or write the value directly"));
                None
            }
            Err(msg) => {
                self.err(&path, format_args!("{msg} in {raw:?}; write ${{NAME}} for a variable or $$ for a literal $"));
                None
            }
        }
    }

    /// Reads an API key file: relative paths resolve in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`)
    /// when set, else next to the config file. Trailing whitespace (the newline editors add) is trimmed.
    fn key_file(&mut self, file: &str, key_path: &str) -> Option<String> {
        let p = std::path::Path::new(file);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else if let Some(dir) = (self.env)("CREDENTIALS_DIRECTORY") {
            std::path::Path::new(&dir).join(p)
        } else {
            self.base.map_or_else(|| p.to_path_buf(), |b| b.join(p))
        };
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) => {
                self.err(key_path, format_args!("cannot read {} ({e}); create it with the API key, readable by the exporter's user (with systemd: LoadCredential=)", full.display()));
                return None;
            }
        };
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(&full).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
            self.warn(key_path, format_args!("{} is readable by every user; chmod 0640 it", full.display()));
        }
        let key = text.trim_end().to_string();
        if key.is_empty() {
            self.err(key_path, format_args!("{} is empty; put the NetBackup API key in it", full.display()));
            return None;
        }
        Some(key)
    }

    fn duration(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str, default: Duration) -> Duration {
        let Some(s) = self.string(map, key, path) else {
            return default;
        };
        match duration::parse(&s) {
            Ok(d) if d.is_zero() => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} must be greater than zero; use e.g. \"{}\"", duration::format(default)),
                );
                default
            }
            Ok(d) => d,
            Err(why) => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} is not a duration ({why}); use e.g. \"5m\", \"1h30m\" or \"30s\""),
                );
                default
            }
        }
    }

    /// A whole number within `range`.
    fn count(
        &mut self,
        map: Option<&serde_yaml::Mapping>,
        key: &str,
        path: &str,
        range: std::ops::RangeInclusive<usize>,
        default: usize,
    ) -> usize {
        let Some(v) = self.string(map, key, path) else { return default };
        match v.trim().parse::<usize>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                let (lo, hi) = (range.start(), range.end());
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{v:?} is not a whole number from {lo} to {hi}; use e.g. {default} (the default)"),
                );
                default
            }
        }
    }

    fn port(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str, default: u16) -> u16 {
        let Some(s) = self.string(map, key, path) else {
            return default;
        };
        match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} is not a TCP port; use a number from 1 to 65535 (NetBackup listens on 1556)"),
                );
                default
            }
        }
    }

    fn boolean(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str) -> bool {
        let Some(s) = self.string(map, key, path) else {
            return false;
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => true,
            "false" | "no" | "off" | "0" | "" => false,
            _ => {
                self.err(&format!("{path}.{key}"), format_args!("{s:?} is not a boolean; use true or false"));
                false
            }
        }
    }

    fn config(&mut self, root: &Value) -> Config {
        const TOP: &[&str] = &["server", "nbuserver", "nbuservers", "collectors"];
        const TOP_IGNORED: &[(&str, &str)] =
            &[("opentelemetry", "OpenTelemetry tracing is not part of this exporter; remove the block")];
        let top = match root {
            Value::Null => {
                self.err("config", "the file is empty; start from the shipped config.yaml");
                None
            }
            v => self.mapping(v, "config", TOP, TOP_IGNORED),
        };
        let server = self.server(top.and_then(|m| m.get("server")));
        let mut sites = Vec::new();
        if let Some(legacy) = top.and_then(|m| m.get("nbuserver")).filter(|v| !v.is_null()) {
            self.warn("nbuserver", "the single nbuserver: block is deprecated; move it into a list under nbuservers: (it is used as one site named after its host)");
            if let Some(site) = self.site(legacy, "nbuserver", true) {
                sites.push(site);
            }
        }
        match top.and_then(|m| m.get("nbuservers")) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(list)) => {
                for (i, v) in list.iter().enumerate() {
                    if let Some(site) = self.site(v, &format!("nbuservers[{i}]"), false) {
                        sites.push(site);
                    }
                }
            }
            Some(other) => self.err(
                "nbuservers",
                format_args!(
                    "expected a list of servers, found {}; write each server as a \"- site: …\" item",
                    show(other)
                ),
            ),
        }
        if sites.is_empty() && self.errors.is_empty() {
            self.err("nbuservers", "no NetBackup server configured; add at least one entry with site, host and apiKey");
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut dupes = Vec::new();
        for s in &sites {
            if seen.contains(&s.site.as_str()) {
                dupes.push(s.site.clone());
            }
            seen.push(&s.site);
        }
        for d in dupes {
            self.err(
                "nbuservers",
                format_args!("site {d:?} is defined more than once; give every server a unique site: name"),
            );
        }
        let (jobs_enabled, storage_enabled) = self.collectors(top.and_then(|m| m.get("collectors")));
        Config { server, sites, jobs_enabled, storage_enabled }
    }

    fn server(&mut self, v: Option<&Value>) -> ServerConfig {
        const KEYS: &[&str] = &[
            "host",
            "port",
            "uri",
            "scrapingInterval",
            "collectionInterval",
            "cacheTTL",
            "logName",
            "logLevel",
            "workers",
            "maxConnections",
            "connectionTimeout",
        ];
        const IGNORED: &[(&str, &str)] = &[];
        let map = v.and_then(|v| self.mapping(v, "server", KEYS, IGNORED));
        let p = "server";
        let host = self.string(map, "host", p).unwrap_or_else(|| DEFAULT_LISTEN_HOST.into());
        let port = self.port(map, "port", p, DEFAULT_LISTEN_PORT);
        let telemetry_path = self.string(map, "uri", p).unwrap_or_else(|| DEFAULT_TELEMETRY_PATH.into());
        if !telemetry_path.starts_with('/') || telemetry_path == "/" || telemetry_path.starts_with("/-/") {
            self.err(
                "server.uri",
                format_args!("{telemetry_path:?} cannot serve metrics; use a path such as \"/metrics\""),
            );
        }
        let scraping_interval = self.duration(map, "scrapingInterval", p, DEFAULT_SCRAPING_INTERVAL);
        let collection_interval = self.duration(map, "collectionInterval", p, DEFAULT_COLLECTION_INTERVAL);
        let cache_ttl = self.duration(map, "cacheTTL", p, DEFAULT_CACHE_TTL);
        if cache_ttl > Duration::from_secs(300) {
            self.warn(
                "server.cacheTTL",
                format_args!(
                    "{} exceeds Prometheus's 5-minute staleness; storage series can only be as fresh as the TTL",
                    duration::format(cache_ttl)
                ),
            );
        }
        let log_name = self.string(map, "logName", p).filter(|s| !s.trim().is_empty());
        let log_level = match self.string(map, "logLevel", p) {
            None => log::LevelFilter::Info,
            Some(s) => parse_log_level(&s).unwrap_or_else(|| {
                self.err("server.logLevel", format_args!("{s:?} is not a log level; use debug, info, warn or error"));
                log::LevelFilter::Info
            }),
        };
        let workers = self.count(map, "workers", p, 1..=64, DEFAULT_WORKERS);
        let max_connections = self.count(map, "maxConnections", p, 8..=65536, DEFAULT_MAX_CONNECTIONS);
        let connection_timeout = self.duration(map, "connectionTimeout", p, DEFAULT_CONNECTION_TIMEOUT);
        ServerConfig {
            host,
            port,
            telemetry_path,
            scraping_interval,
            collection_interval,
            cache_ttl,
            log_name,
            log_level,
            workers,
            max_connections,
            connection_timeout,
        }
    }

    fn site(&mut self, v: &Value, path: &str, legacy: bool) -> Option<SiteConfig> {
        const KEYS: &[&str] = &[
            "site",
            "scheme",
            "host",
            "port",
            "uri",
            "apiKey",
            "apiKeyFile",
            "apiKeyLogin",
            "username",
            "password",
            "domain",
            "domainType",
            "apiVersion",
            "insecureSkipVerify",
            "caFile",
            "proxy",
            "connectTimeout",
            "requestTimeout",
            "collectionTimeout",
            "maxResponseSize",
            "concurrency",
        ];
        const IGNORED: &[(&str, &str)] = &[("contentType", "the media type is negotiated from apiVersion")];
        let before = self.errors.len();
        let map = self.mapping(v, path, KEYS, IGNORED);
        if map.is_none() {
            self.err(path, "empty server entry; give it at least host and apiKey");
            return None;
        }
        let host = self.string(map, "host", path).unwrap_or_default();
        if host.trim().is_empty() {
            let hint = typo_of(map, "host", KEYS);
            self.err(
                &format!("{path}.host"),
                format_args!(
                    "missing{hint}; set it to the NetBackup primary server's name, e.g. host: nbu-primary.example.com"
                ),
            );
        } else if host.contains("://") || host.contains('/') {
            self.err(
                &format!("{path}.host"),
                format_args!(
                    "{host:?} must be a host name or address only; put the scheme in scheme: and the path in uri:"
                ),
            );
        }
        let site = match self.string(map, "site", path) {
            Some(s) if !s.trim().is_empty() => s,
            _ if legacy || !host.is_empty() => host.clone(),
            _ => String::new(),
        };
        let scheme = match self.string(map, "scheme", path).as_deref().map(str::to_ascii_lowercase) {
            None => Scheme::Https,
            Some(s) if s == "https" => Scheme::Https,
            Some(s) if s == "http" => Scheme::Http,
            Some(s) => {
                self.err(
                    &format!("{path}.scheme"),
                    format_args!(
                        "{s:?} is not supported; use https (NetBackup's REST API) or http (the bundled simulator)"
                    ),
                );
                Scheme::Https
            }
        };
        let port = self.port(map, "port", path, DEFAULT_NBU_PORT);
        let uri = self.string(map, "uri", path).unwrap_or_else(|| DEFAULT_NBU_URI.into());
        if !uri.starts_with('/') {
            self.err(
                &format!("{path}.uri"),
                format_args!("{uri:?} must start with /; NetBackup's API lives under \"/netbackup\""),
            );
        }
        let username = self.string(map, "username", path).filter(|u| !u.trim().is_empty());
        let domain = self.string(map, "domain", path).filter(|d| !d.trim().is_empty());
        let domain_type = self.string(map, "domainType", path).filter(|d| !d.trim().is_empty());
        let (api_key, login) = if let Some(username) = username {
            let password = self.string(map, "password", path).unwrap_or_default();
            if password.is_empty() {
                self.err(
                    &format!("{path}.password"),
                    "missing; username: needs password: (e.g. password: \"${NBU_PASSWORD}\")",
                );
            }
            if map.is_some_and(|m| m.contains_key("apiKey") || m.contains_key("apiKeyFile")) {
                self.err(
                    &format!("{path}.username"),
                    "set together with apiKey/apiKeyFile; use either an API key or a user login",
                );
            }
            (String::new(), Some(Login::Password { username, password: Secret::new(password), domain, domain_type }))
        } else {
            let api_key_given = map.is_some_and(|m| m.get("apiKey").is_some_and(|v| !v.is_null()));
            let key_file = self.string(map, "apiKeyFile", path).filter(|f| !f.trim().is_empty());
            let api_key = match (api_key_given, key_file) {
                (true, Some(_)) => {
                    self.err(&format!("{path}.apiKeyFile"), "set together with apiKey; keep only one of them");
                    String::new()
                }
                (false, Some(f)) => self.key_file(&f, &format!("{path}.apiKeyFile")).unwrap_or_default(),
                (true, None) => {
                    let k = self.string(map, "apiKey", path).unwrap_or_default();
                    if k.trim().is_empty() && self.errors.len() == before {
                        self.err(
                            &format!("{path}.apiKey"),
                            "is empty; set it to the NetBackup API key (an empty environment variable also counts)",
                        );
                    }
                    k
                }
                (false, None) => {
                    let hint = typo_of(map, "apiKey", KEYS);
                    self.err(&format!("{path}.apiKey"), format_args!("missing{hint}; create an API key in the NetBackup web UI and set apiKey: \"${{NBU_API_KEY}}\" with the key in that environment variable, apiKeyFile: with a file holding it, or username:/password:"));
                    String::new()
                }
            };
            if domain.is_some() || domain_type.is_some() {
                self.warn(
                    &format!("{path}.domain"),
                    "domain/domainType only apply to a username: login; ignored with an API key",
                );
            }
            let login = self.boolean(map, "apiKeyLogin", path).then_some(Login::ApiKey);
            (api_key, login)
        };
        let api_version = match self.string(map, "apiVersion", path) {
            None => None,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => {
                match ApiVersion::parse(&s) {
                    Some(v) if v > MAX_API_VERSION => {
                        self.warn(&format!("{path}.apiVersion"), format_args!("{v} is newer than the highest version this exporter was tested with ({MAX_API_VERSION})"));
                        Some(v)
                    }
                    Some(v) => Some(v),
                    None => {
                        self.err(&format!("{path}.apiVersion"), format_args!("{s:?} is not an API version; use MAJOR.MINOR such as \"13.0\", or remove it to detect the version"));
                        None
                    }
                }
            }
        };
        let insecure_skip_verify = self.boolean(map, "insecureSkipVerify", path);
        let ca_file = self.string(map, "caFile", path).filter(|s| !s.trim().is_empty());
        if let Some(f) = &ca_file {
            if let Err(why) = load_ca_file(f) {
                self.err(&format!("{path}.caFile"), format_args!("{f:?} {why}; point it at the PEM file of the NetBackup web-service CA (GET /netbackup/security/cacert)"));
            }
        }
        let proxy = match self.string(map, "proxy", path) {
            None => ProxySetting::Environment,
            Some(s) if s.trim().is_empty() || s.eq_ignore_ascii_case("env") => ProxySetting::Environment,
            Some(s) if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("direct") => ProxySetting::Direct,
            Some(s) if ureq::Proxy::new(&s).is_ok() && s.contains("://") => ProxySetting::Url(s),
            Some(_) => {
                self.err(
                    &format!("{path}.proxy"),
                    "not a proxy URL; use http://host:port, none (direct), or leave it out to use HTTPS_PROXY/NO_PROXY",
                );
                ProxySetting::Environment
            }
        };
        let connect_timeout = self.duration(map, "connectTimeout", path, DEFAULT_CONNECT_TIMEOUT);
        let request_timeout = self.duration(map, "requestTimeout", path, DEFAULT_REQUEST_TIMEOUT);
        let collection_timeout = self.duration(map, "collectionTimeout", path, DEFAULT_COLLECTION_TIMEOUT);
        let max_response_bytes = match self.string(map, "maxResponseSize", path) {
            None => DEFAULT_MAX_RESPONSE_BYTES,
            Some(v) => parse_size(&v).unwrap_or_else(|| {
                self.err(
                    &format!("{path}.maxResponseSize"),
                    format_args!("{v:?} is not a size; use e.g. \"64MiB\", \"512KiB\" or a number of bytes"),
                );
                DEFAULT_MAX_RESPONSE_BYTES
            }),
        };
        let concurrency = self.count(map, "concurrency", path, 1..=16, DEFAULT_CONCURRENCY);
        if !site.is_empty() && !site.chars().all(|c| c.is_ascii_graphic()) {
            self.err(
                &format!("{path}.site"),
                format_args!("{site:?} contains spaces or control characters; use a short name such as dc1"),
            );
        }
        (self.errors.len() == before).then(|| SiteConfig {
            site,
            scheme,
            host,
            port,
            uri,
            api_key: Secret::new(api_key),
            login,
            api_version,
            insecure_skip_verify,
            ca_file,
            proxy,
            connect_timeout,
            request_timeout,
            collection_timeout,
            max_response_bytes,
            concurrency,
        })
    }

    fn collectors(&mut self, v: Option<&Value>) -> (bool, bool) {
        let (mut jobs, mut storage) = (true, true);
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return (jobs, storage);
        };
        let Value::Mapping(map) = v else {
            self.err(
                "collectors",
                format_args!("expected a mapping such as \"jobs: {{enabled: true}}\", found {}", show(v)),
            );
            return (jobs, storage);
        };
        for (k, val) in map {
            let Some(name) = k.as_str() else { continue };
            let path = format!("collectors.{name}");
            let enabled = match val {
                Value::Bool(b) => *b,
                Value::Null => true,
                Value::Mapping(m) => {
                    for key in m.keys().filter_map(Value::as_str).filter(|k| *k != "enabled") {
                        self.warn(&format!("{path}.{key}"), "option not supported by this exporter; ignored");
                    }
                    let m = Some(m);
                    m.and_then(|m| m.get("enabled")).is_none() || self.boolean(m, "enabled", &path)
                }
                other => {
                    self.err(&path, format_args!("expected true/false or {{enabled: true}}, found {}", show(other)));
                    continue;
                }
            };
            match name {
                "jobs" => jobs = enabled,
                "storage" => storage = enabled,
                n if FOREIGN_COLLECTORS.contains(&n) => {
                    if enabled {
                        self.warn(&path, "this collector is not available in this exporter yet; ignored");
                    }
                }
                n => match nearest(n, &[COLLECTORS, FOREIGN_COLLECTORS].concat()) {
                    Some(s) => self.warn(&path, format_args!("unknown collector ignored; did you mean {s:?}?")),
                    None => self
                        .warn(&path, format_args!("unknown collector ignored; available: {}", COLLECTORS.join(", "))),
                },
            }
        }
        (jobs, storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "NBU_KEY").then(|| "k3y".to_string())
    }

    fn parse(text: &str) -> Result<Loaded, ConfigError> {
        parse_str(text, &env)
    }

    #[test]
    fn go_exporter_legacy_config_is_accepted() {
        let l = parse(
            "server:\n  host: localhost\n  port: \"2112\"\n  uri: /metrics\n  scrapingInterval: 1h\n  logName: log/x.log\n\
             nbuserver:\n  scheme: https\n  uri: /netbackup\n  domain: my.domain\n  domainType: NT\n  host: master.my.domain\n  port: \"1556\"\n  apiVersion: \"13.0\"\n  apiKey: ${NBU_KEY}\n  contentType: x\n  insecureSkipVerify: false\n\
             opentelemetry:\n  enabled: false\n",
        )
        .unwrap();
        let c = l.config;
        assert_eq!(c.sites.len(), 1);
        assert_eq!(c.sites[0].site, "master.my.domain");
        assert_eq!(c.sites[0].api_key.expose(), "k3y");
        assert_eq!(c.sites[0].api_version, Some(ApiVersion::new(13, 0)));
        assert_eq!(c.server.port, 2112);
        assert_eq!(c.server.job_window(), Duration::from_secs(3600));
        assert!(l.warnings.iter().any(|w| w.contains("deprecated")));
        assert!(l.warnings.iter().any(|w| w.starts_with("nbuserver.contentType")));
    }

    #[test]
    fn errors_name_key_value_and_fix() {
        let cases = [
            ("nbuservers:\n  - site: a\n    host: h\n", "nbuservers[0].apiKey: missing"),
            ("nbuservers:\n  - {site: a, host: h, apiKey: k, scheme: ftp}\n", "nbuservers[0].scheme: \"ftp\""),
            (
                "server: {scrapingInterval: 5x}\nnbuservers:\n  - {host: h, apiKey: k}\n",
                "server.scrapingInterval: \"5x\"",
            ),
            (
                "nbuservers:\n  - {site: a, host: h, apiKey: k}\n  - {site: a, host: g, apiKey: k}\n",
                "site \"a\" is defined more than once",
            ),
            ("nbuservers:\n  - {host: h, apiKey: \"${MISSING}\"}\n", "environment variable MISSING is not set"),
            ("nbuservers:\n  - {host: h, apiKey: k, port: 99999}\n", "nbuservers[0].port: \"99999\""),
            ("nbuservers:\n  - {host: \"https://h\", apiKey: k}\n", "must be a host name"),
            ("nbuservers:\n  - {host: h, apiKey: k, apiVersion: latest}\n", "apiVersion: \"latest\""),
            ("nbuservers:\n  - {host: h, apiKey: k, proxy: \"ftp:/x\"}\n", "nbuservers[0].proxy: not a proxy URL"),
            (
                "nbuservers:\n  - {host: h, apiKey: k, maxResponseSize: lots}\n",
                "nbuservers[0].maxResponseSize: \"lots\"",
            ),
            ("nbuservers:\n  - {host: h, apiKy: k}\n", "apiKey: missing (found \"apiKy\": a typo of apiKey?)"),
            (
                "nbuservers:\n  - {host: h, apiKey: k, caFile: /nonexistent.pem}\n",
                "caFile: \"/nonexistent.pem\" cannot be read",
            ),
            ("nbuservers:\n  - {host: h, apiKey: k, caFile: /etc/hostname}\n", "holds no PEM certificate"),
            ("", "empty"),
            ("server: [\n", "not valid YAML"),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(want), "{text:?}: got {e}");
        }
    }

    #[test]
    fn typo_is_a_warning_with_suggestion() {
        let l = parse("server:\n  scrapingIntervall: 5m\nnbuservers:\n  - {host: h, apiKey: k, insecureSkipVerfy: true}\ncollectors:\n  storge: {enabled: true}\n  alerts: {enabled: true}\n").unwrap();
        let w = l.warnings.join("\n");
        assert!(w.contains("server.scrapingIntervall: unknown key ignored; did you mean \"scrapingInterval\"?"), "{w}");
        assert!(w.contains("did you mean \"insecureSkipVerify\""), "{w}");
        assert!(w.contains("collectors.storge: unknown collector ignored; did you mean \"storage\"?"), "{w}");
        assert!(w.contains("collectors.alerts: this collector is not available"), "{w}");
    }

    #[test]
    fn api_key_file_from_the_credentials_directory() {
        let dir = std::env::temp_dir().join(format!("nbu-cfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nbu_api_key"), "s3cret-key\n").unwrap();
        let d = dir.to_str().unwrap().to_string();
        let env = move |k: &str| (k == "CREDENTIALS_DIRECTORY").then(|| d.clone());
        let l = parse_str("nbuservers:\n  - {host: h, apiKeyFile: nbu_api_key}\n", &env).unwrap();
        assert_eq!(l.config.sites[0].api_key.expose(), "s3cret-key");
        let e = parse_str("nbuservers:\n  - {host: h, apiKeyFile: missing}\n", &env).unwrap_err().to_string();
        assert!(e.contains("nbuservers[0].apiKeyFile: cannot read") && e.contains("LoadCredential"), "{e}");
        let e = parse_str("nbuservers:\n  - {host: h, apiKey: k, apiKeyFile: nbu_api_key}\n", &env).unwrap_err();
        assert!(e.to_string().contains("keep only one"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn numeric_values_and_defaults() {
        let l = parse("nbuservers:\n  - {site: dc1, host: h, apiKey: k, port: 1556, apiVersion: 12.0}\ncollectors:\n  storage: false\n").unwrap();
        let s = &l.config.sites[0];
        assert_eq!((s.port, s.api_version), (1556, Some(ApiVersion::new(12, 0))));
        assert_eq!(s.base_url(), "https://h:1556/netbackup");
        assert!(l.config.jobs_enabled && !l.config.storage_enabled);
        assert_eq!(l.config.server.listen_address(), "0.0.0.0:2112");
        assert_eq!(format!("{:?}", s.api_key), "<redacted>");
    }
}
