//! What the HTTP roles share: [`BoundServer`], what building one yields (an actix server bound to
//! a listener the caller chose, the port it got, a stop handle and `run`), [`Signals`], and the
//! CORS policy ([`cors`]). Used by `rest`, `graphql` and `stack`.

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;

/// Whether a server stops by itself on SIGTERM/SIGINT, or leaves that to its owner (`serve` stops
/// GraphQL before REST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    Handle,
    Ignore,
}

/// A built server, bound and ready to run. Nothing is served until [`Self::run`] is awaited (or
/// the future is spawned).
pub struct BoundServer {
    server: Server,
    port: u16,
}

impl BoundServer {
    pub(crate) fn new(server: Server, port: u16) -> Self {
        Self { server, port }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (gracefully or not).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (a signal, unless [`Signals::Ignore`], or [`ServerHandle::stop`]);
    /// in-flight requests finish first.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// CORS as configured (`--cors-origins`): `*` for any origin, `none` for no CORS headers, else a list of origins.
pub fn cors(origins: &[String]) -> actix_web::middleware::Condition<Cors> {
    let enabled = !origins.iter().any(|o| o.eq_ignore_ascii_case("none")) && !origins.is_empty();
    let mut cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .expose_headers([header::ETAG, header::LOCATION])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in origins.iter().filter(|o| !o.eq_ignore_ascii_case("none")) {
            cors = cors.allowed_origin(origin);
        }
    }
    actix_web::middleware::Condition::new(enabled, cors)
}
