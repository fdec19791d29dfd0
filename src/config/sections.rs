//! The config file's sections: the top level, `server:`, each `nbuservers:` entry and `collectors:`, each key
//! checked and turned into typed settings.

use super::parser::{shape, show, typo_of, Parser};
use super::*;
use serde_yaml::Value;
use std::time::Duration;

impl Parser<'_> {
    pub(super) fn config(&mut self, root: &Value) -> Config {
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
                    shape(other)
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
        let (collectors, collector_ttls) = self.collectors(top.and_then(|m| m.get("collectors")));
        Config { server, sites, collectors, collector_ttls }
    }

    fn server(&mut self, v: Option<&Value>) -> ServerConfig {
        const KEYS: &[&str] = &[
            "host",
            "port",
            "uri",
            "scrapingInterval",
            "collectionInterval",
            "cacheTTL",
            "catchUpHorizon",
            "logName",
            "logLevel",
            "workers",
            "maxConnections",
            "connectionTimeout",
            "readHeaderTimeout",
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
        if collection_interval < Duration::from_secs(1) {
            self.warn(
                "server.collectionInterval",
                format_args!(
                    "{} is under 1s: every source polls NetBackup that often, with its pages in memory each time; \
                     use 1s or more (the default is {})",
                    duration::format(collection_interval),
                    duration::format(DEFAULT_COLLECTION_INTERVAL)
                ),
            );
        }
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
        let catch_up_horizon = self.duration(map, "catchUpHorizon", p, DEFAULT_CATCH_UP_HORIZON);
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
        let read_header_timeout = self.duration(map, "readHeaderTimeout", p, DEFAULT_READ_HEADER_TIMEOUT);
        if map.is_some_and(|m| m.contains_key("readHeaderTimeout")) && read_header_timeout > connection_timeout {
            self.err(
                "server.readHeaderTimeout",
                format_args!(
                    "{} is longer than server.connectionTimeout ({}): a client could hold a connection that long \
                     without sending a request; use a few seconds (the default is {})",
                    duration::format(read_header_timeout),
                    duration::format(connection_timeout),
                    duration::format(DEFAULT_READ_HEADER_TIMEOUT)
                ),
            );
        }
        ServerConfig {
            host,
            port,
            telemetry_path,
            scraping_interval,
            collection_interval,
            cache_ttl,
            catch_up_horizon,
            log_name,
            log_level,
            workers,
            max_connections,
            connection_timeout,
            read_header_timeout,
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

    /// The enabled collectors and their own `cacheTTL`s.
    fn collectors(&mut self, v: Option<&Value>) -> (Vec<&'static str>, Vec<(&'static str, Duration)>) {
        // Every collector this build implements is on unless the file turns it off, but those of DEFAULT_OFF.
        let mut on: Vec<bool> = COLLECTORS.iter().map(|c| !DEFAULT_OFF.contains(c)).collect();
        let mut ttls: Vec<(&'static str, Duration)> = Vec::new();
        let enabled = |on: &[bool]| COLLECTORS.iter().zip(on).filter(|(_, on)| **on).map(|(n, _)| *n).collect();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return (enabled(&on), ttls);
        };
        let Value::Mapping(map) = v else {
            self.err(
                "collectors",
                format_args!("expected a mapping such as \"jobs: {{enabled: true}}\", found {}", show(v)),
            );
            return (enabled(&on), ttls);
        };
        for (k, val) in map {
            let Some(name) = k.as_str() else { continue };
            let path = format!("collectors.{name}");
            let enabled = match val {
                Value::Bool(b) => *b,
                Value::Null => true,
                Value::Mapping(m) => {
                    for key in m.keys().filter_map(Value::as_str).filter(|k| !matches!(*k, "enabled" | "cacheTTL")) {
                        self.warn(&format!("{path}.{key}"), "option not supported by this exporter; ignored");
                    }
                    if m.contains_key("cacheTTL") {
                        match COLLECTORS.iter().find(|c| **c == name) {
                            Some(&"jobs") => self.warn(
                                &format!("{path}.cacheTTL"),
                                "jobs are polled every server.collectionInterval; ignored",
                            ),
                            Some(c) => {
                                let ttl = self.duration(Some(m), "cacheTTL", &path, DEFAULT_CACHE_TTL);
                                if ttl < Duration::from_secs(1) {
                                    self.err(
                                        &format!("{path}.cacheTTL"),
                                        "must be at least 1s; remove it to poll every server.cacheTTL",
                                    );
                                } else {
                                    ttls.push((c, ttl));
                                }
                            }
                            None => {}
                        }
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
                n if COLLECTORS.contains(&n) => {
                    if let Some(i) = COLLECTORS.iter().position(|c| *c == n) {
                        on[i] = enabled;
                    }
                }
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
        (enabled(&on), ttls)
    }
}
