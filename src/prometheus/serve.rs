//! `GET /metrics` over HTTP (`[daemon] metrics_listen`), served by `tiny_http` on threads of
//! its own: the daemon's worker only swaps in the latest text, so neither a slow scraper nor
//! a burst of scrapes can delay a pass, and a pass never waits for a scrape.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The latest text, shared between the worker and the serving thread; `None` until the
/// daemon's first look at its runs is done.
type Latest = Arc<Mutex<Option<Arc<str>>>>;

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    latest: Latest,
    http: Arc<tiny_http::Server>,
}

impl Server {
    /// Binds `addr` and serves on a thread of its own. A bind failure (the port is taken, an
    /// address not on this host, the sandbox denies sockets) is returned, not logged: the
    /// caller decides what it means.
    pub fn start(addr: SocketAddr) -> Result<Self, String> {
        let server = Arc::new(tiny_http::Server::http(addr).map_err(|e| e.to_string())?);
        let latest: Latest = Arc::default();
        let (serving, shared) = (Arc::clone(&server), Arc::clone(&latest));
        std::thread::Builder::new()
            .name("ckptd-metrics".into())
            .spawn(move || serve(&serving, &shared))
            .map_err(|e| format!("cannot start its thread: {e}"))?;
        Ok(Self {
            addr,
            latest,
            http: server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the next scrape gets.
    pub fn publish(&self, text: &str) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(text.into());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Ends the serving thread's loop; the socket closes with the last reference.
        self.http.unblock();
    }
}

fn serve(server: &tiny_http::Server, latest: &Latest) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let method = request.method();
        let response = if path != "/metrics" {
            text(404, "ckptd serves its metrics at /metrics\n")
        } else if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
            text(405, "GET /metrics\n")
        } else {
            let body = latest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match body {
                Some(body) => text(200, &body),
                None => text(503, "ckptd is still taking its first look at its runs\n"),
            }
        };
        // A scraper that hung up is its own business.
        let _ = request.respond(response);
    }
}

fn text(status: u16, body: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], CONTENT_TYPE.as_bytes())
        .expect("a valid header");
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header)
}
