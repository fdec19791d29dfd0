//! HTTP front end: a tiny_http listener served by a fixed pool of worker threads. Handlers only read the snapshot.

use crate::snapshot::{Snapshot, Store};
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Reads an `Arc<[u8]>` without copying it, so a scrape costs no allocation proportional to the page.
struct SharedBody {
    data: Arc<[u8]>,
    pos: usize,
}

impl Read for SharedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

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
        log::warn!(
            "could not set TCP_NODELAY on the listener: {}",
            io::Error::last_os_error()
        );
    }
    Ok(listener)
}

pub struct HttpServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

struct Routes {
    store: Arc<Store>,
    telemetry_path: String,
}

impl HttpServer {
    pub fn start(
        listener: TcpListener,
        workers: usize,
        store: Arc<Store>,
        telemetry_path: String,
    ) -> io::Result<Self> {
        let server = Arc::new(Server::from_listener(listener, None).map_err(io::Error::other)?);
        let stopping = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(Routes {
            store,
            telemetry_path,
        });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (server, stopping, routes) = (server.clone(), stopping.clone(), routes.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || loop {
                        match server.recv() {
                            Ok(rq) => routes.handle(rq),
                            Err(_) if stopping.load(Ordering::SeqCst) => break,
                            Err(e) => log::debug!("http: {e}"),
                        }
                    })?,
            );
        }
        Ok(HttpServer {
            server,
            workers: handles,
            stopping,
        })
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Routes {
    fn handle(&self, rq: Request) {
        let path = rq.url().split('?').next().unwrap_or("").to_string();
        if !matches!(rq.method(), Method::Get | Method::Head) {
            let _ = rq.respond(
                text(405, "only GET and HEAD are supported\n".into())
                    .with_header(header("Allow", "GET, HEAD")),
            );
            return;
        }
        let snap = self.store.snapshot();
        let result = if path == self.telemetry_path {
            let len = snap.body.len();
            let body = SharedBody {
                data: snap.body.clone(),
                pos: 0,
            };
            // The length is known: never fall back to chunked encoding (tiny_http does above 32 KiB by default).
            rq.respond(
                Response::new(
                    StatusCode(200),
                    vec![header("Content-Type", METRICS_CONTENT_TYPE)],
                    body,
                    Some(len),
                    None,
                )
                .with_chunked_threshold(usize::MAX),
            )
        } else {
            match path.as_str() {
                "/" => rq.respond(
                    Response::from_string(self.landing(&snap))
                        .with_header(header("Content-Type", "text/html; charset=utf-8")),
                ),
                "/-/healthy" => rq.respond(text(200, "OK\n".into())),
                "/-/ready" if snap.ready => rq.respond(text(200, "Ready\n".into())),
                "/-/ready" => rq.respond(text(
                    503,
                    "Not ready: first collection still running\n".into(),
                )),
                _ => rq.respond(text(
                    404,
                    format!("404 not found; metrics are at {}\n", self.telemetry_path),
                )),
            }
        };
        if let Err(e) = result {
            log::debug!("http: writing response for {path} failed: {e}");
        }
    }

    fn landing(&self, snap: &Snapshot) -> String {
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
                s.api_version
                    .map_or_else(|| "-".to_string(), |v| v.to_string()),
                html_escape(s.last_error.as_deref().unwrap_or("")),
            );
        }
        format!(
            "<!DOCTYPE html>\n<html><head><title>NetBackup Exporter</title></head><body>\n\
             <h1>NetBackup Exporter</h1>\n<p>Version {}</p>\n\
             <ul><li><a href=\"{p}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>\
             <li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
             <h2>Sites</h2>\n<table border=\"1\"><tr><th>Site</th><th>URL</th><th>State</th><th>API version</th><th>Last error</th></tr>\n{rows}</table>\n\
             </body></html>\n",
            env!("CARGO_PKG_VERSION"),
            p = html_escape(&self.telemetry_path),
        )
    }
}
