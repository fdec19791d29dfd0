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
/// on where the handshake failed, so they are recognised by their text (rustls 0.23's `Display`, and the older
/// `Debug`-style names), the most specific cause first.
pub(super) fn describe(e: &ureq::Error) -> String {
    let text = e.to_string();
    if let Some(hint) = tls_hint(&text) {
        return format!("{hint} ({text})");
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

/// What a TLS verification failure means and how to fix it, or `None` when `text` is not one.
fn tls_hint(text: &str) -> Option<&'static str> {
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if !text.contains("certificate") {
        return None;
    }
    Some(if has(&["not valid for any names", "no subjectAltName"]) {
        "TLS certificate has no subjectAltName for any host; rustls ignores the CN, so give the web-service \
         certificate a subjectAltName (DNS:<host>) or use NetBackup's own web-service certificate, which has one"
    } else if has(&["not valid for name", "NotValidForName"]) {
        "TLS certificate is not valid for this host; set host: to a name the certificate lists in its \
         subjectAltName (rustls lists them at the end), or reissue the certificate for this name"
    } else if has(&["CaUsedAsEndEntity"]) {
        "the server presents a CA certificate (basicConstraints CA:TRUE) as its own certificate, which rustls \
         refuses even when caFile: holds it (RFC 5280); give the web service a certificate with CA:FALSE (a \
         self-signed CA:FALSE certificate given as caFile: is trusted) or one issued by the NetBackup CA, or, for \
         testing only, set insecureSkipVerify: true"
    } else if has(&["Expired", "expired"]) {
        "TLS certificate has expired; renew NetBackup's web-service certificate, or check this host's clock"
    } else if has(&["NotValidYet", "not valid yet"]) {
        "TLS certificate is not valid yet; check this host's clock (and NetBackup's)"
    } else if has(&["UnknownIssuer", "invalid peer certificate"]) {
        "TLS certificate not trusted; set caFile: to the NetBackup web-service CA (PEM; trusted in addition to the \
         system's CAs; GET /netbackup/security/cacert returns it), or add that CA to the system trust store, or, \
         for testing only, set insecureSkipVerify: true"
    } else {
        return None;
    })
}
