//! Helpers for testing code that uses switchboard (feature `test-util`).
//!
//! - [`LoopbackServer`]: an axum app on `127.0.0.1:0`, stopped when dropped.
//! - [`RawServer`]: a TCP server scripted per request, for failures an HTTP framework cannot
//!   produce (reset after the request was read, hang, reset on accept).
//! - [`LogCapture`]: captures every log line and span field, and fails a test when a canary
//!   secret shows up in it.
//! - Time: every timer in the pipeline (backoff, `Retry-After`, deadlines, breaker cool-down)
//!   is a `tokio::time` timer, so tests control the clock with
//!   `#[tokio::test(start_paused = true)]` or `tokio::time::pause()` and `advance()`. With real
//!   loopback sockets, wrap the builder in [`freeze_clock_during_attempts`], or the paused
//!   clock jumps to the attempt timeout while a response is on its way. The in-memory rate
//!   limiter (governor) and the retry budget read the real clock.
//! - [`prism`]: a Prism mock server serving a provider's OpenAPI spec, for contract tests.
//! - [`conformance`]: the suite every connector passes (secrets, retries, config, webhooks,
//!   lists), through the path a host uses.
//! - [`cache_keys`]: every key in a switchboard's response cache, to prove what a key holds.
//! - [`sync_store`]: the contract every [`SyncStore`](crate::sync::SyncStore) keeps.

mod clock;
pub mod conformance;
mod logs;
pub mod prism;
mod raw;
pub mod sync_store;

pub use clock::freeze_clock_during_attempts;
pub use logs::{CaptureGuard, CaptureWriter, LogCapture};
pub use raw::{RawAction, RawRequest, RawServer};

use std::net::SocketAddr;

use tokio::sync::oneshot;

/// Every key now in `switchboard`'s response cache, as text, for tests that prove what a key
/// holds (tenant and connection, never a secret: secret query values and header values appear
/// only as keyed hashes). A test helper rather than a `Switchboard` method, so the cache's key
/// format is not part of the library's API.
///
/// An entry a write has invalidated stays listed until it is next read or evicted (writes are
/// recorded per connection and checked on read, not by a pass over the cache).
pub fn cache_keys(switchboard: &crate::Switchboard) -> Vec<String> {
    switchboard.cache_keys()
}

/// An axum app served on loopback for the lifetime of this value.
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl LoopbackServer {
    /// Serves `app` on `127.0.0.1` at a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start(app: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        LoopbackServer {
            addr,
            stop: Some(stop),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A distinctive fake secret for canary checks: `CANARY-<label>-<random>`.
pub fn canary(label: &str) -> String {
    format!("CANARY-{label}-{:016x}", fastrand::u64(..))
}

/// A loopback port on which nothing listens, for "connection refused".
///
/// The port stays bound (without listening) for the life of the process: a port bound and
/// released could be handed to another test's server a moment later, and a "refused" call
/// would then reach it. Every caller gets the same address; refusals carry no state.
///
/// # Panics
/// If no loopback port can be bound.
pub fn refused_addr() -> SocketAddr {
    static HELD: std::sync::OnceLock<(socket2::Socket, SocketAddr)> = std::sync::OnceLock::new();
    HELD.get_or_init(|| {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        socket.bind(&any.into()).expect("bind a loopback port");
        let addr = socket
            .local_addr()
            .expect("local address")
            .as_socket()
            .expect("an IP address");
        (socket, addr)
    })
    .1
}
