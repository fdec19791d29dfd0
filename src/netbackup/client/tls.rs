//! Trust roots for a site's TLS (system bundle plus `caFile`) and transport errors in words an operator can act on.

use crate::config::{load_ca_file, Scheme, SiteConfig};

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
pub(super) fn trust_roots(site: &SiteConfig) -> Result<Option<ureq::tls::RootCerts>, String> {
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
pub(super) fn describe(e: &ureq::Error) -> String {
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
