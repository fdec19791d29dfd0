//! `--web.config.file` (exporter-toolkit format): parsing, validation, TLS settings and their swap on reload.

mod basic_auth;

use basic_auth::Users;
pub use basic_auth::{Check, Credentials};
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Headers `http_server_config.headers` may set (the exporter-toolkit's list).
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    VerifyIfGiven,
    RequireAndVerify,
}

/// The TLS part, validated: the certificate and key are loaded and match.
struct TlsSettings {
    key: Arc<CertifiedKey>,
    client_auth: ClientAuth,
    client_ca: Option<PathBuf>,
    client_roots: Option<Arc<rustls::RootCertStore>>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

/// A parsed and validated web config file.
pub struct WebConfig {
    tls: Option<TlsSettings>,
    users: BTreeMap<String, String>,
    headers: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl WebConfig {
    /// Reads and validates `path`; every error names the key and says what to do.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--web.config.file {}: cannot read it: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).map_err(|e| format!("--web.config.file {}: {e}", path.display()))
    }

    /// Parses web config text; relative file names are resolved against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                format!("{e} (keys: tls_server_config, http_server_config, basic_auth_users; see README \"Securing the endpoint\")")
            })?
        };
        let mut warnings = Vec::new();
        let tls = match raw.tls_server_config {
            Some(t) => Some(tls_settings(t, dir, &mut warnings)?),
            None => None,
        };
        let mut users = BTreeMap::new();
        for (user, hash) in raw.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(format!(
                    "basic_auth_users: user name {user:?} is empty or contains ':'; pick another name"
                ));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (expected $2a$/$2b$/$2y$…); make one with \
                     `htpasswd -nBC 10 \"\" | tr -d ':\\n'` and paste it here"
                ));
            }
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        if let Some(h) = raw.http_server_config {
            if h.http2 == Some(true) {
                warnings.push("http_server_config.http2: ignored; the exporter speaks HTTP/1.1".into());
            }
            for (name, value) in h.headers {
                let Some(canonical) = ALLOWED_HEADERS.iter().find(|a| a.eq_ignore_ascii_case(&name)) else {
                    return Err(format!(
                        "http_server_config.headers.{name}: not allowed; use one of {}",
                        ALLOWED_HEADERS.join(", ")
                    ));
                };
                if tiny_http::Header::from_bytes(*canonical, value.as_bytes()).is_err() {
                    return Err(format!("http_server_config.headers.{name}: the value is not a valid header value"));
                }
                headers.push((canonical.to_string(), value));
            }
        }
        if tls.is_none() && !users.is_empty() {
            warnings.push(
                "basic_auth_users without tls_server_config: passwords cross the network in clear text; \
                 add tls_server_config"
                    .into(),
            );
        }
        Ok(WebConfig { tls, users, headers, warnings })
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }
}

fn resolve(dir: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn version(key: &str, v: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match v {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => {
            Err(format!("tls_server_config.{key}: {v} is not supported (TLS 1.2 and 1.3 only); use TLS12 or TLS13"))
        }
        _ => Err(format!("tls_server_config.{key}: unknown version {v:?}; use TLS12 or TLS13")),
    }
}

fn tls_settings(t: RawTls, dir: &Path, warnings: &mut Vec<String>) -> Result<TlsSettings, String> {
    let certs: Vec<CertificateDer<'static>> = match (&t.cert_file, &t.cert) {
        (Some(_), Some(_)) => return Err("tls_server_config: set cert_file or cert, not both".into()),
        (Some(f), None) => {
            let path = resolve(dir, f);
            CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_server_config.cert_file {}: {e}; give a PEM certificate", path.display()))?
        }
        (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("tls_server_config.cert: {e}; give a PEM certificate"))?,
        (None, None) => return Err("tls_server_config: cert_file is missing; give the server certificate (PEM)".into()),
    };
    if certs.is_empty() {
        return Err("tls_server_config.cert_file: no CERTIFICATE block found; give a PEM certificate".into());
    }
    let key: PrivateKeyDer<'static> = match (&t.key_file, &t.key) {
        (Some(_), Some(_)) => return Err("tls_server_config: set key_file or key, not both".into()),
        (Some(f), None) => {
            let path = resolve(dir, f);
            PrivateKeyDer::from_pem_file(&path).map_err(|e| {
                format!(
                    "tls_server_config.key_file {}: {e}; give an unencrypted PEM private key (PKCS#8, RSA or EC)",
                    path.display()
                )
            })?
        }
        (None, Some(pem)) => PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("tls_server_config.key: {e}; give an unencrypted PEM private key"))?,
        (None, None) => {
            return Err("tls_server_config: key_file is missing; give the server's private key (PEM)".into())
        }
    };
    if !has_subject_alt_name(&certs[0]) {
        warnings.push(
            "tls_server_config.cert_file: the certificate has no subjectAltName; Prometheus (Go) and other modern \
             clients ignore the CN and will reject it. Reissue it with e.g. `-addext subjectAltName=DNS:<host>`"
                .into(),
        );
    }
    let provider = provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("tls_server_config.key_file: unusable private key ({e})"))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        format!("tls_server_config: key_file does not belong to cert_file ({e}); give the matching pair")
    })?;

    let client_auth = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        v @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert") => {
            return Err(format!(
                "tls_server_config.client_auth_type: {v} (accepting unverified client certificates) is not \
                 supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file"
            ))
        }
        v => {
            return Err(format!(
                "tls_server_config.client_auth_type: unknown value {v:?}; use NoClientCert, \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ))
        }
    };
    let client_ca = t.client_ca_file.as_deref().map(|f| resolve(dir, f));
    let client_roots = match (&client_ca, client_auth) {
        (Some(_), ClientAuth::None) => {
            return Err("tls_server_config: client_ca_file is set but client_auth_type is NoClientCert; set \
                 client_auth_type: RequireAndVerifyClientCert"
                .into())
        }
        (None, ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify) => {
            return Err("tls_server_config.client_auth_type: verifying client certificates needs client_ca_file; \
                 give the CA that signs them (PEM)"
                .into())
        }
        (None, ClientAuth::None) => None,
        (Some(path), _) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas =
                CertificateDer::pem_file_iter(path).and_then(|it| it.collect::<Result<Vec<_>, _>>()).map_err(|e| {
                    format!("tls_server_config.client_ca_file {}: {e}; give PEM CA certificates", path.display())
                })?;
            let (added, _ignored) = roots.add_parsable_certificates(cas);
            if added == 0 {
                return Err(format!(
                    "tls_server_config.client_ca_file {}: no usable CA certificate in it; give PEM CA certificates",
                    path.display()
                ));
            }
            Some(Arc::new(roots))
        }
    };
    if t.client_allowed_sans.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err("tls_server_config.client_allowed_sans: not supported; restrict clients with a dedicated \
             client_ca_file instead"
            .into());
    }
    let min = t.min_version.as_deref().map(|v| version("min_version", v)).transpose()?;
    let max = t.max_version.as_deref().map(|v| version("max_version", v)).transpose()?;
    let all: [&'static rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS12, &rustls::version::TLS13];
    let rank = |v: &rustls::SupportedProtocolVersion| if v.version == rustls::ProtocolVersion::TLSv1_2 { 0 } else { 1 };
    let (lo, hi) = (min.map_or(0, rank), max.map_or(1, rank));
    if lo > hi {
        return Err("tls_server_config: min_version is above max_version; raise max_version".into());
    }
    let versions: Vec<_> = all.into_iter().filter(|v| (lo..=hi).contains(&rank(v))).collect();
    for (key, set) in [
        ("cipher_suites", t.cipher_suites.as_ref().is_some_and(|c| !c.is_empty())),
        ("curve_preferences", t.curve_preferences.as_ref().is_some_and(|c| !c.is_empty())),
        ("prefer_server_cipher_suites", t.prefer_server_cipher_suites.is_some()),
    ] {
        if set {
            warnings.push(format!("tls_server_config.{key}: ignored; rustls uses its own safe choice"));
        }
    }
    Ok(TlsSettings { key: Arc::new(certified), client_auth, client_ca, client_roots, versions })
}

/// True when the DER certificate carries the subjectAltName extension (OID 2.5.29.17). A byte search is enough
/// for a warning: the OID's encoding cannot occur by accident in the fields before the extensions.
fn has_subject_alt_name(cert: &CertificateDer<'_>) -> bool {
    const SAN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x11];
    cert.as_ref().windows(SAN_OID.len()).any(|w| w == SAN_OID)
}

/// Serves the current certificate; a reload swaps it without restarting the listener.
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

/// The live web settings the HTTP workers consult; `reload` swaps them.
pub struct WebSecurity {
    path: Option<PathBuf>,
    users: RwLock<Arc<Users>>,
    headers: RwLock<Arc<Vec<tiny_http::Header>>>,
    resolver: Option<Arc<Resolver>>,
    client_auth: ClientAuth,
    client_ca: Option<PathBuf>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

/// A web config validated against the running one, ready to swap in.
pub struct Prepared(WebConfig);

fn header_list(headers: &[(String, String)]) -> Vec<tiny_http::Header> {
    headers.iter().filter_map(|(n, v)| tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()).ok()).collect()
}

impl WebSecurity {
    /// No web config file: plain HTTP, no authentication.
    pub fn none() -> WebSecurity {
        WebSecurity {
            path: None,
            users: RwLock::new(Arc::new(Users::new(BTreeMap::new()))),
            headers: RwLock::default(),
            resolver: None,
            client_auth: ClientAuth::None,
            client_ca: None,
            versions: Vec::new(),
        }
    }

    pub fn new(path: &Path, config: &WebConfig) -> WebSecurity {
        let (resolver, client_auth, client_ca, versions) = match &config.tls {
            Some(t) => (
                Some(Arc::new(Resolver(RwLock::new(t.key.clone())))),
                t.client_auth,
                t.client_ca.clone(),
                t.versions.clone(),
            ),
            None => (None, ClientAuth::None, None, Vec::new()),
        };
        WebSecurity {
            path: Some(path.to_path_buf()),
            users: RwLock::new(Arc::new(Users::new(config.users.clone()))),
            headers: RwLock::new(Arc::new(header_list(&config.headers))),
            resolver,
            client_auth,
            client_ca,
            versions,
        }
    }

    /// The rustls server configuration when TLS is on.
    pub fn server_config(&self, config: &WebConfig) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let (Some(resolver), Some(tls)) = (&self.resolver, &config.tls) else { return Ok(None) };
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("tls_server_config: {e}"))?;
        let builder = match (&tls.client_roots, tls.client_auth) {
            (Some(roots), auth) if auth != ClientAuth::None => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider);
                let verifier =
                    if auth == ClientAuth::VerifyIfGiven { verifier.allow_unauthenticated() } else { verifier };
                let verifier = verifier.build().map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_cert_resolver(resolver.clone());
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(cfg)))
    }

    /// Re-reads the web config file and validates it against what a running listener can change: certificate,
    /// key, users and headers can; turning TLS on or off and client verification need a restart.
    pub fn prepare(&self) -> Result<Option<Prepared>, String> {
        let Some(path) = &self.path else { return Ok(None) };
        let new = WebConfig::load(path)?;
        let restart = |what: &str| {
            Err(format!(
                "--web.config.file {}: {what} needs a restart (systemctl restart nbu_exporter)",
                path.display()
            ))
        };
        match (&new.tls, &self.resolver) {
            (Some(_), None) => return restart("turning TLS on"),
            (None, Some(_)) => return restart("turning TLS off"),
            (Some(t), Some(_)) => {
                if t.client_auth != self.client_auth || t.client_ca != self.client_ca {
                    return restart("changing client_auth_type or client_ca_file");
                }
                if t.versions != self.versions {
                    return restart("changing min_version or max_version");
                }
            }
            (None, None) => {}
        }
        Ok(Some(Prepared(new)))
    }

    /// Swaps in a prepared config; returns what changed, for the reload log line.
    pub fn commit(&self, prepared: Prepared) -> Vec<String> {
        let new = prepared.0;
        for w in &new.warnings {
            log::warn!("web config: {w}");
        }
        let mut changes = Vec::new();
        if let (Some(resolver), Some(t)) = (&self.resolver, &new.tls) {
            let mut current = resolver.0.write();
            if current.cert != t.key.cert {
                changes.push("TLS certificate".to_string());
            }
            *current = t.key.clone();
        }
        if *self.users.read().hashes() != new.users {
            changes.push("basic_auth_users".to_string());
            let users = Arc::new(Users::new(new.users)); // one bcrypt (the dummy hash): not under the lock
            *self.users.write() = users;
        }
        let headers = header_list(&new.headers);
        if self.headers.read().len() != headers.len()
            || self.headers.read().iter().zip(&headers).any(|(a, b)| a.to_string() != b.to_string())
        {
            changes.push("response headers".to_string());
            *self.headers.write() = Arc::new(headers);
        }
        changes
    }

    pub fn headers(&self) -> Arc<Vec<tiny_http::Header>> {
        self.headers.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let dir = Path::new("/nonexistent");
        let err = |text: &str| WebConfig::parse(text, dir).err().unwrap_or_default();
        assert!(err("basic_auth_users:\n  alice: plain\n").contains("basic_auth_users.alice: not a bcrypt hash"));
        assert!(err("tls_server_config:\n  key_file: k\n").contains("cert_file is missing"));
        assert!(err("tls_servr_config: {}\n").contains("unknown field `tls_servr_config`"));
        assert!(err("http_server_config:\n  headers:\n    Server: x\n").contains("headers.Server: not allowed"));
        let cfg = WebConfig::parse("", dir).ok().unwrap();
        assert!(!cfg.tls_enabled() && cfg.users.is_empty());
        let hash = bcrypt::hash("pw", 4).unwrap();
        let cfg = WebConfig::parse(&format!("basic_auth_users:\n  alice: '{hash}'\n"), dir).ok().unwrap();
        assert!(cfg.warnings.iter().any(|w| w.contains("clear text")));
        let sec = WebSecurity::new(Path::new("/x"), &cfg);
        let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(sec.authorized(Some(&b64("alice:pw"))));
        assert!(sec.authorized(Some(&b64("alice:pw")))); // from the cache
        assert!(!sec.authorized(Some(&b64("alice:pW"))));
        assert!(!sec.authorized(Some(&b64("bob:pw"))));
        assert!(!sec.authorized(None));
    }
}
