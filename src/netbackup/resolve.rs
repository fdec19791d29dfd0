//! Name resolution for the NetBackup client: ureq's resolver, plus an IPv4-only retry for resolvers that refuse
//! AAAA queries.
//!
//! musl's `getaddrinfo` (used by the static build) asks for A and AAAA together and fails the whole lookup when
//! the server answers the AAAA query with REFUSED, as some corporate DNS servers do; glibc returns the A records.
//! When the normal lookup fails, this resolver asks again for IPv4 only, which sends no AAAA query at all, and
//! remembers the host: its later lookups (one per new connection) go IPv4-only at once instead of waiting for musl
//! to give up again (about a second each).

use std::ffi::{CStr, CString};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

#[derive(Debug, Default)]
pub struct FallbackResolver {
    inner: DefaultResolver,
    /// Hosts whose A+AAAA lookup failed but whose IPv4-only lookup worked (one per site at most).
    ipv4_only: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// IPv4 addresses of `host` through `getaddrinfo(AF_INET)`.
fn lookup_ipv4(host: &str) -> Vec<Ipv4Addr> {
    let Ok(name) = CString::new(host) else { return Vec::new() };
    // SAFETY: zeroed addrinfo is a valid "no hints" value; we set family and socket type only.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_INET;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings and out-pointer; the list is freed below with freeaddrinfo.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        // SAFETY: gai_strerror returns a static string for any code.
        let why = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) };
        log::debug!("IPv4-only lookup of {host} failed: {}", why.to_string_lossy());
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: p walks the list getaddrinfo returned; AF_INET entries carry a sockaddr_in.
        unsafe {
            let ai = &*p;
            if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() {
                let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            p = ai.ai_next;
        }
    }
    // SAFETY: res came from a successful getaddrinfo.
    unsafe { libc::freeaddrinfo(res) };
    out
}

impl FallbackResolver {
    fn addrs(&self, v4: Vec<Ipv4Addr>, port: u16) -> ResolvedSocketAddrs {
        let mut out = self.empty(); // holds at most 16 addresses
        for ip in v4.into_iter().take(16) {
            out.push(SocketAddr::V4(SocketAddrV4::new(ip, port)));
        }
        out
    }
}

impl Resolver for FallbackResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host_port = uri.host().zip(uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        }));
        if let Some((host, port)) = host_port.filter(|(h, _)| self.ipv4_only.lock().contains(*h)) {
            let v4 = lookup_ipv4(host);
            if !v4.is_empty() {
                return Ok(self.addrs(v4, port));
            }
        }
        let err = match self.inner.resolve(uri, config, timeout) {
            Ok(addrs) => return Ok(addrs),
            Err(e) => e,
        };
        let Some((host, port)) = host_port else { return Err(err) };
        let v4 = lookup_ipv4(host);
        if v4.is_empty() {
            return Err(err);
        }
        log::debug!("{host}: the A+AAAA lookup failed ({err}); using its IPv4 addresses from now on");
        self.ipv4_only.lock().insert(host.to_string());
        Ok(self.addrs(v4, port))
    }
}
