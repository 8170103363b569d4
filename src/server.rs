//! What building an HTTP role yields: an actix server bound to a listener the caller chose (tests
//! bind port 0), the port it got, a stop handle and `run`. Shared by `rest`, `graphql` and `stack`.

use actix_web::dev::{Server, ServerHandle};

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
