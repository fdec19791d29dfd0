//! Configuration: the Go exporter's YAML schema, parsed and validated into typed settings with actionable errors.
//!
//! Loading never half-succeeds: [`load`] either returns a complete, validated [`Config`] (plus warnings) or every
//! problem found, each naming the key, the bad value and the fix.

pub mod duration;
pub mod expand;
mod parser;
mod sections;

use parser::Parser;
pub use parser::{load_ca_file, nearest, parse_log_level, parse_size};

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
/// Jobs that finished during an outage are counted when NetBackup answers again, if they finished within this.
pub const DEFAULT_CATCH_UP_HORIZON: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_WORKERS: usize = 4;
/// Requests one site may have in flight to NetBackup during a collection (polite: a primary serves its own GUI).
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_NBU_PORT: u16 = 1556;
pub const DEFAULT_NBU_URI: &str = "/netbackup";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_COLLECTION_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Collectors this build implements.
pub const COLLECTORS: &[&str] =
    &["jobs", "storage", "disk_pools", "storage_servers", "media_servers", "slps", "services", "tape"];
/// Collectors of [`COLLECTORS`] that are off unless the file turns them on (opt-in in the Go exporter too).
pub const DEFAULT_OFF: &[&str] = &["tape"];
/// Collectors the Go exporter has that we accept (with a warning) but do not implement yet.
const FOREIGN_COLLECTORS: &[&str] = &["alerts", "malware", "catalog", "slo", "perclient", "policies"];

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
    /// Jobs that finished while NetBackup did not answer are counted on recovery if they ended within this.
    pub catch_up_horizon: Duration,
    pub log_name: Option<String>,
    pub log_level: log::LevelFilter,
    pub workers: usize,
    /// Open client connections beyond this are closed at once.
    pub max_connections: usize,
    /// An idle or stalled client connection is closed after this long.
    pub connection_timeout: Duration,
    /// A new connection's first request head (and each later head, from its first byte) must arrive within this.
    pub read_header_timeout: Duration,
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
    /// The enabled collectors, in [`COLLECTORS`] order.
    pub collectors: Vec<&'static str>,
    /// `collectors.<name>.cacheTTL`: collectors polled on their own TTL instead of `server.cacheTTL`.
    pub collector_ttls: Vec<(&'static str, Duration)>,
}

impl Config {
    /// True if collector `name` (one of [`COLLECTORS`]) is enabled.
    pub fn collects(&self, name: &str) -> bool {
        self.collectors.contains(&name)
    }

    /// How often collector `name` polls: its own `cacheTTL` if set, else `server.cacheTTL`.
    pub fn ttl_of(&self, name: &str) -> Duration {
        self.collector_ttls.iter().find(|(n, _)| *n == name).map_or(self.server.cache_ttl, |(_, t)| *t)
    }
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
        assert_eq!(c.server.catch_up_horizon, DEFAULT_CATCH_UP_HORIZON);
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
                "server: {catchUpHorizon: 1 day}\nnbuservers:\n  - {host: h, apiKey: k}\n",
                "server.catchUpHorizon: \"1 day\"",
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
    fn a_sub_second_collection_interval_is_a_warning() {
        let l = parse("server:\n  collectionInterval: 500ms\nnbuservers:\n  - {host: h, apiKey: k}\n").unwrap();
        assert!(
            l.warnings.iter().any(|w| w.starts_with("server.collectionInterval: 500ms is under 1s")),
            "{:?}",
            l.warnings
        );
        let l = parse("server:\n  collectionInterval: 1s\nnbuservers:\n  - {host: h, apiKey: k}\n").unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
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
        assert_eq!(l.config.collectors, ["jobs", "disk_pools", "storage_servers", "media_servers", "slps", "services"]);
        assert_eq!(l.config.server.listen_address(), "0.0.0.0:2112");
        assert_eq!(format!("{:?}", s.api_key), "<redacted>");
    }

    #[test]
    fn tape_is_opt_in() {
        let l = parse("nbuservers:\n  - {host: h, apiKey: k}\n").unwrap();
        let on_by_default = ["jobs", "storage", "disk_pools", "storage_servers", "media_servers", "slps", "services"];
        assert_eq!(l.config.collectors, on_by_default);
        for on in ["tape: true", "tape: {enabled: true}", "tape:"] {
            let l = parse(&format!("nbuservers:\n  - {{host: h, apiKey: k}}\ncollectors:\n  {on}\n")).unwrap();
            assert_eq!(l.config.collectors, [&on_by_default[..], &["tape"]].concat(), "{on}");
            assert!(l.warnings.is_empty(), "{on}: {:?}", l.warnings);
        }
    }

    #[test]
    fn read_header_timeout_default_value_and_validation() {
        let site = "nbuservers:\n  - {host: h, apiKey: k}\n";
        let l = parse(site).unwrap();
        assert_eq!(l.config.server.read_header_timeout, DEFAULT_READ_HEADER_TIMEOUT);
        let l = parse(&format!("server: {{readHeaderTimeout: 2s}}\n{site}")).unwrap();
        assert_eq!(l.config.server.read_header_timeout, Duration::from_secs(2));
        // The default may exceed a short connectionTimeout; an explicit value may not.
        assert!(parse(&format!("server: {{connectionTimeout: 1s}}\n{site}")).is_ok());
        let err = parse(&format!("server: {{readHeaderTimeout: 40s}}\n{site}")).err().unwrap().errors.join("\n");
        assert!(err.contains("server.readHeaderTimeout: 40s is longer than server.connectionTimeout (30s)"), "{err}");
        let err = parse(&format!("server: {{readHeaderTimeout: 0s}}\n{site}")).err().unwrap().errors.join("\n");
        assert!(err.contains("server.readHeaderTimeout") && err.contains("greater than zero"), "{err}");
    }
}
