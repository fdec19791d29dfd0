//! HTTP front end: the tiny_http listener, its worker threads and the routes; handlers only read the snapshot.

mod auth_gate;
pub mod fd_limit;

use crate::health::Health;
use crate::reload::{Reloader, Trigger};
use crate::snapshot::{Snapshot, Store};
use crate::web_config::{Check, Credentials, WebSecurity};
use auth_gate::{Pool, Throttle};
use parking_lot::RwLock;
use std::io::{self, Read};
use std::net::{IpAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the listener. TCP_NODELAY is set on the listening socket; Linux hands it down to accepted sockets,
/// which removes the ~40 ms Nagle/delayed-ACK stall on keep-alive scrapes (tiny_http never sets it itself).
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a valid, owned socket fd with a correctly sized int option.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!("could not set TCP_NODELAY on the listener: {}", io::Error::last_os_error());
    }
    Ok(listener)
}

pub struct HttpServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

/// Everything the handlers read.
pub struct Routes {
    pub store: Arc<Store>,
    pub telemetry_path: Arc<RwLock<String>>,
    pub health: Arc<Health>,
    pub reloader: Arc<Reloader>,
    /// `--web.enable-lifecycle`: accept `POST /-/reload`.
    pub lifecycle: bool,
    pub health_waiters: Arc<AtomicUsize>,
    /// `--web.config.file`: basic auth and extra response headers.
    pub security: Arc<WebSecurity>,
}

/// Concurrent `/health` requests allowed to wait for the shared check.
pub const MAX_HEALTH_WAITERS: usize = 256;

/// Client-connection limits (patched tiny_http, see vendor/tiny_http/PATCHES.md and docs/limits.md).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `server.maxConnections`, before the clamp to the open-files limit.
    pub max_connections: usize,
    /// `server.connectionTimeout`: socket read/write timeout (idle keep-alive, stalled clients).
    pub timeout: std::time::Duration,
    /// `server.readHeaderTimeout`: a new connection's first request head, and each later head from its first
    /// byte, must arrive within this.
    pub read_header_timeout: std::time::Duration,
}

impl Limits {
    pub fn of(server: &crate::config::ServerConfig) -> Limits {
        Limits {
            max_connections: server.max_connections,
            timeout: server.connection_timeout,
            read_header_timeout: server.read_header_timeout,
        }
    }
}

/// Sets the client-connection limits for connections accepted from now on (at start and on reload), with
/// `max_connections` clamped to what the open-files limit allows (its soft limit raised to the hard one first).
pub fn apply_limits(limits: Limits) {
    let max_connections = match fd_limit::raise_nofile() {
        Ok(limit) => {
            if let Some(from) = limit.raised_from {
                log::info!("open-files limit raised from {from} to {}", limit.soft);
            }
            let (n, warning) = fd_limit::clamp_connections(limits.max_connections, &limit);
            if let Some(w) = warning {
                log::warn!("{w}");
            }
            n
        }
        Err(e) => {
            log::warn!("cannot read the open-files limit ({e}); server.maxConnections is not checked against it");
            limits.max_connections
        }
    };
    tiny_http::set_connection_limits(max_connections, Some(limits.timeout));
    tiny_http::set_read_header_timeout(Some(limits.read_header_timeout));
}

/// The routes plus the basic-auth gate that keeps bcrypt off the workers.
struct Served {
    routes: Routes,
    bcrypt: Pool<Pending>,
    throttle: Throttle,
}

/// A request whose credentials wait for bcrypt.
struct Pending {
    served: Arc<Served>,
    rq: Extra,
    path: String,
    credentials: Credentials,
    ip: Option<IpAddr>,
}

impl HttpServer {
    /// Serves `listener` with `workers` threads, client connections bounded by `limits`; `max_connections` is
    /// clamped to what the open-files limit allows (raised to its hard limit first), with a warning.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        workers: usize,
        limits: Limits,
        routes: Routes,
    ) -> io::Result<Self> {
        apply_limits(limits);
        let server = match tls {
            Some(cfg) => Server::from_listener_rustls(listener, cfg),
            None => Server::from_listener(listener, None),
        };
        let server = Arc::new(server.map_err(io::Error::other)?);
        let stopping = Arc::new(AtomicBool::new(false));
        let bcrypt = Pool::start(auth_gate::bcrypt_threads(), |p: Pending| p.served.clone().finish(p))?;
        let served = Arc::new(Served { routes, bcrypt, throttle: Throttle::default() });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (server, stopping, served) = (server.clone(), stopping.clone(), served.clone());
            handles.push(std::thread::Builder::new().name(format!("http-{i}")).spawn(move || loop {
                match server.recv() {
                    Ok(rq) => served.handle(rq),
                    Err(_) if stopping.load(Ordering::SeqCst) => break,
                    Err(e) => log::debug!("http: {e}"),
                }
            })?);
        }
        Ok(HttpServer { server, workers: handles, stopping })
    }

    /// Stops accepting work: wakes every worker (one `unblock` each) and waits for in-flight requests to finish.
    pub fn shutdown(self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// Builds a header from compile-time constants (checked by the integration tests).
fn header(name: &'static str, value: &'static str) -> Header {
    match Header::from_bytes(name, value) {
        Ok(h) => h,
        Err(()) => unreachable!("invalid static header {name}: {value}"),
    }
}

fn text(status: u16, body: String) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// A request plus the headers every response gets (`http_server_config.headers` of the web config file).
struct Extra {
    rq: Request,
    headers: Arc<Vec<Header>>,
}

impl Extra {
    fn method(&self) -> &Method {
        self.rq.method()
    }

    fn header(&self, name: &'static str) -> Option<&str> {
        self.rq.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str())
    }

    fn respond<R: Read>(self, mut response: Response<R>) -> io::Result<()> {
        for h in self.headers.iter() {
            response.add_header(h.clone());
        }
        self.rq.respond(response)
    }
}

/// True when an `Accept-Encoding` value allows gzip (`gzip`, `x-gzip` or `*`, without `q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let zero = it
            .any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q == 0.0));
        !zero && (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") || coding == "*")
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn unauthorized() -> Response<io::Cursor<Vec<u8>>> {
    text(401, "Unauthorized\n".into())
        .with_header(header("WWW-Authenticate", "Basic realm=\"nbu_exporter\", charset=\"UTF-8\""))
}

fn too_many(retry_after: u64, why: &str) -> Response<io::Cursor<Vec<u8>>> {
    let response = text(429, format!("Too Many Requests: {why}; retry in {retry_after} s\n"));
    match Header::from_bytes("Retry-After", retry_after.to_string()) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

impl Served {
    /// On a request worker: cached or no credentials are decided at once; others go to the bcrypt pool, or get
    /// 429 when their client IP failed too often or the pool's queue is full. A worker never runs bcrypt.
    fn handle(self: &Arc<Self>, rq: Request) {
        let path = rq.url().split('?').next().unwrap_or("").to_string();
        let rq = Extra { rq, headers: self.routes.security.headers() };
        let result = match self.routes.security.check(rq.header("Authorization")) {
            Check::Allowed => return self.routes.route(rq, &path),
            Check::Denied => rq.respond(unauthorized()),
            Check::Verify(credentials) => {
                let ip = rq.rq.remote_addr().map(|a| a.ip());
                if let Some(secs) = ip.and_then(|ip| self.throttle.retry_after(ip)) {
                    rq.respond(too_many(secs, "too many failed logins from this address"))
                } else {
                    let pending = Pending { served: self.clone(), rq, path: path.clone(), credentials, ip };
                    match self.bcrypt.submit(pending) {
                        Ok(()) => return,
                        Err(p) => p.rq.respond(too_many(1, "too many logins being checked")),
                    }
                }
            }
        };
        if let Err(e) = result {
            log::debug!("http: writing response for {path} failed: {e}");
        }
    }

    /// On a bcrypt thread: verifies, then serves the request or answers 401 (and counts the failure).
    fn finish(&self, p: Pending) {
        if p.credentials.verify() {
            return self.routes.route(p.rq, &p.path);
        }
        if let Some(ip) = p.ip {
            self.throttle.failed(ip);
        }
        if let Err(e) = p.rq.respond(unauthorized()) {
            log::debug!("http: writing response for {} failed: {e}", p.path);
        }
    }
}

impl Routes {
    /// An authorized request.
    fn route(&self, rq: Extra, path: &str) {
        let result = if path == "/-/reload" {
            match (rq.method(), self.lifecycle) {
                (Method::Post | Method::Put, true) => match self.reloader.reload(Trigger::Http) {
                    Ok(()) => rq.respond(text(200, "configuration reloaded\n".into())),
                    Err(e) => rq.respond(text(500, format!("reload failed; the previous configuration stays:\n{e}\n"))),
                },
                (_, true) => rq.respond(text(405, "use POST /-/reload\n".into()).with_header(header("Allow", "POST"))),
                (_, false) => {
                    rq.respond(text(403, "Lifecycle API is not enabled; start with --web.enable-lifecycle\n".into()))
                }
            }
        } else if !matches!(rq.method(), Method::Get | Method::Head) {
            rq.respond(text(405, "only GET and HEAD are supported\n".into()).with_header(header("Allow", "GET, HEAD")))
        } else {
            self.get(rq, path)
        };
        if let Err(e) = result {
            log::debug!("http: writing response for {path} failed: {e}");
        }
    }

    fn get(&self, rq: Extra, path: &str) -> io::Result<()> {
        let snap = self.store.snapshot();
        let telemetry_path = self.telemetry_path.read().clone();
        if path == telemetry_path {
            let gzip = rq.header("Accept-Encoding").is_some_and(accepts_gzip);
            let data = if gzip {
                self.store.note_gzip();
                snap.gzip()
            } else {
                snap.body.clone()
            };
            let mut headers = vec![header("Content-Type", METRICS_CONTENT_TYPE), header("Vary", "Accept-Encoding")];
            if gzip {
                headers.push(header("Content-Encoding", "gzip"));
            }
            // Written straight from the snapshot's bytes (patched tiny_http): no copy, never chunked.
            return rq.respond(Response::from_shared(StatusCode(200), headers, data));
        }
        match path {
            "/" => rq.respond(
                Response::from_string(self.landing(&snap, &telemetry_path))
                    .with_header(header("Content-Type", "text/html; charset=utf-8")),
            ),
            "/-/healthy" => rq.respond(text(200, "OK\n".into())),
            "/-/ready" if snap.ready => rq.respond(text(200, "Ready\n".into())),
            "/-/ready" => rq.respond(text(503, "Not ready: first collection still running\n".into())),
            "/health" => self.health(rq),
            _ => rq.respond(text(404, format!("404 not found; metrics are at {telemetry_path}\n"))),
        }
    }

    /// Answers `/health` on a thread of its own: a check can take seconds while NetBackup hangs, and must not tie
    /// up the workers that serve `/metrics`. At most [`MAX_HEALTH_WAITERS`] calls wait at once; more get 503.
    fn health(&self, rq: Extra) -> io::Result<()> {
        if self.health_waiters.fetch_add(1, Ordering::SeqCst) >= MAX_HEALTH_WAITERS {
            self.health_waiters.fetch_sub(1, Ordering::SeqCst);
            return rq.respond(text(503, "too many concurrent health checks; retry shortly\n".into()));
        }
        let (health, waiters) = (self.health.clone(), self.health_waiters.clone());
        let spawned = std::thread::Builder::new().name("health-http".into()).spawn(move || {
            let report = health.check();
            let _ = rq.respond(text(if report.healthy { 200 } else { 503 }, report.text.clone()));
            waiters.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            self.health_waiters.fetch_sub(1, Ordering::SeqCst);
            log::warn!("cannot start a health check thread: {e}");
        }
        Ok(())
    }

    fn landing(&self, snap: &Snapshot, telemetry_path: &str) -> String {
        let mut rows = String::new();
        for s in &snap.sites {
            let state = match (s.first_cycle_done, s.up) {
                (false, _) => "starting",
                (true, true) => "up",
                (true, false) => "down",
            };
            rows += &format!(
                "<tr><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td></tr>\n",
                html_escape(&s.name),
                html_escape(&s.url),
                s.api_version.map_or_else(|| "-".to_string(), |v| v.to_string()),
                html_escape(s.last_error.as_deref().unwrap_or("")),
            );
        }
        format!(
            "<!DOCTYPE html>\n<html><head><title>NetBackup Exporter</title></head><body>\n\
             <h1>NetBackup Exporter</h1>\n<p>Version {}</p>\n\
             <ul><li><a href=\"{p}\">Metrics</a></li><li><a href=\"/health\">NetBackup connectivity</a></li>\
             <li><a href=\"/-/healthy\">Liveness</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
             <h2>Sites</h2>\n<table border=\"1\"><tr><th>Site</th><th>URL</th><th>State</th><th>API version</th><th>Last error</th></tr>\n{rows}</table>\n\
             </body></html>\n",
            env!("CARGO_PKG_VERSION"),
            p = html_escape(telemetry_path),
        )
    }
}
