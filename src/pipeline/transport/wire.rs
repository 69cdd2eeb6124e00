//! The HTTP client an attempt goes out on: hyper's pooled client (hyper-util) with rustls, or
//! reqwest when the host asked for proxies from the environment.
//!
//! # Why hyper directly
//!
//! reqwest is hyper-util's client with conveniences the pipeline does not use per call: it
//! turns the request's URL back into a URI (a format and a parse), copies the headers again
//! for redirects we never follow, and boxes its own 1.8 KB future around hyper's. On the
//! pipeline bench, hyper-util's client alone costs about 0.7× reqwest's client CPU per request
//! (docs/performance.md); the call already holds an `http::Uri` and a header map, which hyper
//! takes as they are.
//!
//! What reqwest was configured to do, this does too: HTTP/1.1 only, no redirects, no retries
//! of its own (the retry stage decides), `TCP_NODELAY`, rustls with the webpki roots (offering
//! `http/1.1` by ALPN), one timeout over the TCP and TLS connect, the SSRF guard as the
//! resolver of the guarded client, and the same idle pool. Proxies are the exception: reading them from the environment (and
//! tunnelling through them) is reqwest's well-kept code, so a switchboard built with
//! `proxy_from_env(true)` sends through reqwest.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use tower::Service;

use super::request_body::RequestBody;
use crate::error::{BoxError, Error, ErrorKind};
use crate::outbound::ssrf::{find_ssrf, SsrfGuard};

/// A response as it arrives, whichever client fetched it.
pub(crate) type WireResponse = http::Response<WireBody>;

/// The body of a [`WireResponse`]: hyper's, or reqwest's (proxied).
pub(crate) type WireBody = http_body_util::Either<hyper::body::Incoming, reqwest::Body>;

type HyperClient = hyper_util::client::legacy::Client<
    TimedConnect<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>>,
    RequestBody,
>;

/// How the clients are built: the switchboard's settings that reach the socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireSettings {
    /// The longest a TCP connect and TLS handshake may take together.
    pub(crate) connect_timeout: Duration,
    /// Send through the proxies the environment names (`HTTPS_PROXY`, `NO_PROXY`...).
    pub(crate) proxy_from_env: bool,
}

/// One HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Wire(Client);

#[derive(Debug, Clone)]
enum Client {
    /// hyper-util's pooled client over rustls; every switchboard without proxies. Behind an
    /// `Arc`: it is hundreds of bytes (reqwest's handle is one pointer), and the transport is
    /// cloned for every attempt through a host's layers, which must not copy it each time.
    Direct(Arc<HyperClient>),
    /// reqwest, for proxies read from the environment.
    Proxied(reqwest::Client),
}

impl Wire {
    /// A client with `settings`. With a `guard`, every address a name resolves to is checked
    /// before a connection is opened (base URLs from tenant config). Through a proxy the proxy
    /// resolves the target, and the guard would judge the proxy's address instead: there, only
    /// the URL's text is checked (by the endpoint policy), as before.
    pub(crate) fn new(settings: WireSettings, guard: Option<SsrfGuard>) -> Result<Wire, Error> {
        if settings.proxy_from_env {
            return proxied(settings).map(|c| Wire(Client::Proxied(c)));
        }
        let mut http = HttpConnector::new_with_resolver(Resolver { guard });
        // Spread over a name's addresses (happy eyeballs); the whole connect, TLS included,
        // is bounded by `TimedConnect` below.
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        // Not hyper-rustls's builder: it refuses a config with ALPN set, and offers none for
        // HTTP/1.1 alone. This is the builder's `https_or_http` connector with our config.
        let https = hyper_rustls::HttpsConnector::from((http, tls_config()?));
        let connect = TimedConnect {
            inner: https,
            timeout: settings.connect_timeout,
        };
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(connect);
        Ok(Wire(Client::Direct(Arc::new(client))))
    }

    /// Sends `request`; the answer's body is not read yet. Nothing is sent until polled.
    pub(crate) fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> impl Future<Output = Result<WireResponse, Error>> + Send + 'static {
        match &self.0 {
            Client::Direct(client) => Either::Left(client.request(request).map(|r| match r {
                Ok(resp) => Ok(resp.map(http_body_util::Either::Left)),
                Err(e) => Err(hyper_error(e)),
            })),
            Client::Proxied(client) => Either::Right(send_proxied(client.clone(), request)),
        }
    }
}

/// rustls as reqwest's `rustls-tls` feature with `http1_only` sets it up: ring, TLS 1.2 and
/// 1.3, the webpki roots, and ALPN offering `http/1.1` alone.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::new(ErrorKind::Config, "cannot set up TLS").with_source(e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn proxied(settings: WireSettings) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        // HTTP/1.1 whatever features reqwest was built with elsewhere in the host's graph:
        // the retry stage's rules (what may have been sent) are made for it.
        .http1_only()
        // The retry stage decides every retry; with none allowed reqwest copies nothing.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::new(ErrorKind::Config, "cannot build the HTTP client").with_source(e))
}

async fn send_proxied(
    client: reqwest::Client,
    request: http::Request<RequestBody>,
) -> Result<WireResponse, Error> {
    let request = reqwest::Request::try_from(request.map(reqwest::Body::wrap)).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "request cannot be sent: its URI is not a URL",
        )
    })?;
    match client.execute(request).await {
        Ok(resp) => Ok(http::Response::from(resp).map(http_body_util::Either::Right)),
        Err(e) => Err(reqwest_error(e)),
    }
}

/// The guard's refusal, if the connect failed on it: nothing was sent, and it is a setting to
/// fix (the endpoint), not an outage to retry.
fn refused_by_guard(e: &(dyn std::error::Error + 'static)) -> Option<Error> {
    find_ssrf(e).map(|refused| {
        Error::new(
            ErrorKind::Config,
            format!("endpoint refused by the SSRF guard: {refused}"),
        )
    })
}

fn hyper_error(e: hyper_util::client::legacy::Error) -> Error {
    if let Some(refused) = refused_by_guard(&e) {
        return refused;
    }
    let err = if e.is_connect() {
        Error::connect("could not connect to the provider")
    } else {
        in_flight()
    };
    err.with_source(e)
}

/// Maps a reqwest failure to our error, without its URL (which may hold a secret).
fn reqwest_error(e: reqwest::Error) -> Error {
    if let Some(refused) = refused_by_guard(&e) {
        return refused;
    }
    let err = if e.is_connect() {
        Error::connect("could not connect to the provider")
    } else if e.is_timeout() {
        Error::timeout("the provider did not answer in time")
    } else {
        in_flight()
    };
    err.with_source(e.without_url())
}

fn in_flight() -> Error {
    Error::transport(
        "the connection failed while the request was in flight",
        true,
    )
}

/// The resolver: the system's (`getaddrinfo` on a blocking thread, as reqwest), and for the
/// guarded client the SSRF guard, which resolves and refuses private addresses.
#[derive(Debug, Clone)]
struct Resolver {
    guard: Option<SsrfGuard>,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>>;

impl Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        match self.guard.clone() {
            // The connector sets the port on the addresses itself.
            Some(guard) => Box::pin(async move {
                let addrs = guard.resolve(name.as_str(), 0).await?;
                Ok(addrs.into_iter())
            }),
            None => {
                let lookup = GaiResolver::new().call(name);
                Box::pin(async move {
                    let addrs: Vec<SocketAddr> = lookup.await?.collect();
                    Ok(addrs.into_iter())
                })
            }
        }
    }
}

/// A connector bounded by one timeout over the whole connect (TCP and TLS), as reqwest's
/// `connect_timeout`. Its error keeps the inner one as is, so the guard's refusal is found.
#[derive(Debug, Clone)]
struct TimedConnect<C> {
    inner: C,
    timeout: Duration,
}

impl<C> Service<http::Uri> for TimedConnect<C>
where
    C: Service<http::Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connect = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connect).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err("connect timed out".into()),
            }
        })
    }
}
